//! `[cluster]`'s keys for servers beyond this machine: `launch`, `hosts`, `listen`,
//! `control_addr`, `attach`, `secret_file`, `setup_timeout_ms` (see `scenario::remote`).

use super::{Ctx, Res, K};
use crate::scenario::raw::RawCluster;
use crate::scenario::remote::{parse_addr, valid_host, Remote, Template};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The longest setup a scenario may ask for: one hour.
const MAX_SETUP_MS: f64 = 3_600_000.0;

impl Ctx<'_> {
    pub(super) fn remote(&self, raw: &RawCluster, servers: u16) -> Res<Remote> {
        let c = K::root().k("cluster");
        let launch = match &raw.launch {
            None => None,
            Some(text) => Some(Template::parse(text).map_err(|why| {
                self.invalid(
                    &c.k("launch"),
                    format!("{text:?}"),
                    format!("expected {why}"),
                )
            })?),
        };
        let mut hosts = Vec::new();
        for (i, h) in raw.hosts.iter().flatten().enumerate() {
            if !valid_host(h) {
                return Err(self.invalid(
                    &c.k("hosts").i(i),
                    format!("{h:?}"),
                    "expected a host name or address (letters, digits and . - _ : @ % [ ] only)",
                ));
            }
            hosts.push(h.clone());
        }
        if raw.hosts.as_ref().is_some_and(Vec::is_empty) {
            return Err(self.invalid(
                &c.k("hosts"),
                "[]",
                "expected a non-empty list of hosts (server i runs on hosts[(i - 1) % len])",
            ));
        }
        if let Some(t) = &launch {
            if t.uses_host() && hosts.is_empty() {
                return Err(self.invalid(
                    &c.k("launch"),
                    format!("{:?}", t.text()),
                    "expected cluster.hosts too: the template uses {host}",
                ));
            }
        }
        let listen = self.addrs(&c.k("listen"), raw.listen.as_deref(), false)?;
        let attach = self.addrs(&c.k("attach"), raw.attach.as_deref(), true)?;
        let control_addr = match &raw.control_addr {
            None => None,
            Some(s) => Some(parse_addr(s).ok_or_else(|| {
                self.invalid(
                    &c.k("control_addr"),
                    format!("{s:?}"),
                    "expected an IP address, optionally with a port (\"10.0.0.1\", \"10.0.0.1:7000\")",
                )
            })?),
        };
        if !attach.is_empty() {
            if launch.is_some() {
                return Err(self.invalid(
                    &c.k("attach"),
                    format!("[{} addresses]", attach.len()),
                    "expected either cluster.launch or cluster.attach, not both",
                ));
            }
            if attach.len() != usize::from(servers) {
                return Err(self.invalid(
                    &c.k("attach"),
                    format!("[{} addresses]", attach.len()),
                    format!("expected one address per server (cluster.servers = {servers})"),
                ));
            }
            if raw.secret_file.is_none() {
                return Err(self.schema(
                    &c.k("secret_file"),
                    "missing; attached servers need the secret they were started with \
                     (a file of 64 hex digits, the same as their --secret-file)",
                ));
            }
        }
        let secret_file = match &raw.secret_file {
            Some(s) if s.is_empty() => {
                return Err(self.invalid(&c.k("secret_file"), "\"\"", "expected a file path"))
            }
            Some(s) => Some(PathBuf::from(s)),
            None => None,
        };
        let setup_timeout = match raw.setup_timeout_ms {
            None => None,
            Some(_) => Some(self.ms(
                &c.k("setup_timeout_ms"),
                raw.setup_timeout_ms,
                20_000.0,
                1.0,
                MAX_SETUP_MS,
            )?),
        };
        Ok(Remote {
            launch,
            hosts,
            listen,
            control_addr,
            attach,
            secret_file,
            setup_timeout,
        })
    }

    /// A list of addresses (`"IP"` or `"IP:PORT"`; with `need_port`, the port is required).
    fn addrs(&self, key: &K, raw: Option<&[String]>, need_port: bool) -> Res<Vec<SocketAddr>> {
        let Some(raw) = raw else {
            return Ok(Vec::new());
        };
        if raw.is_empty() {
            return Err(self.invalid(key, "[]", "expected a non-empty list of addresses"));
        }
        let mut out = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            let a = parse_addr(s).filter(|a| !need_port || a.port() != 0);
            let Some(a) = a else {
                let what = if need_port {
                    "expected IP:PORT (\"10.0.0.2:7000\", \"[fd00::2]:7000\")"
                } else {
                    "expected an IP address, optionally with a port (\"10.0.0.2\", \"10.0.0.2:7000\")"
                };
                return Err(self.invalid(&key.i(i), format!("{s:?}"), what));
            };
            out.push(a);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::testkit::*;

    #[test]
    fn rule_launch_template() {
        let e = load_err(
            &append("# end\n").replace("mode = \"sim\"", "mode = \"sim\"\nlaunch = \"ssh x\""),
            &[],
        );
        assert_eq!(
            e.to_string(),
            "test.toml:7: cluster.launch = \"ssh x\": expected a template that contains {command} \
             (the server's command line) or {args} (its arguments)"
        );
        let e = load_err(BASE, &["cluster.launch=\"ip netns exec tl{nr} {command}\""]);
        assert!(e.to_string().contains("cluster.launch"), "{e}");
        assert!(e.to_string().contains("unknown placeholder {nr}"), "{e}");
        let e = load_err(BASE, &["cluster.launch=\"ssh {host} {command}\""]);
        assert!(e.to_string().contains("cluster.hosts too"), "{e}");
        let s = load_ok(&edit(
            "mode",
            "launch = \"ssh {host} {command}\"\nhosts = [\"10.0.0.2\", \"b.example\"]",
        ));
        assert_eq!(s.cluster.remote.host(3), Some("10.0.0.2"));
        assert!(!s.cluster.remote.is_local());
    }

    #[test]
    fn rule_addresses_name_their_key() {
        let e = load_err(BASE, &["cluster.hosts=[\"a\", \"b;rm -rf\"]"]);
        assert!(
            e.to_string().contains("cluster.hosts[1] = \"b;rm -rf\""),
            "{e}"
        );
        let e = load_err(BASE, &["cluster.listen=[\"10.0.0.2\", \"10.0.0.300\"]"]);
        assert!(
            e.to_string().contains("cluster.listen[1] = \"10.0.0.300\""),
            "{e}"
        );
        let e = load_err(BASE, &["cluster.control_addr=\"localhost\""]);
        assert!(
            e.to_string()
                .contains("cluster.control_addr = \"localhost\""),
            "{e}"
        );
        let five = "[\"10.0.0.1:7000\", \"10.0.0.2:7000\", \"10.0.0.3:7000\", \"10.0.0.4:7000\", \"10.0.0.5\"]";
        let e = load_err(
            BASE,
            &[
                &format!("cluster.attach={five}"),
                "cluster.secret_file=\"k\"",
            ],
        );
        assert!(
            e.to_string()
                .contains("cluster.attach[4] = \"10.0.0.5\": expected IP:PORT"),
            "{e}"
        );
        let e = load_err(
            BASE,
            &[
                "cluster.attach=[\"10.0.0.1:7000\"]",
                "cluster.secret_file=\"k\"",
            ],
        );
        assert!(
            e.to_string()
                .contains("one address per server (cluster.servers = 5)"),
            "{e}"
        );
        let five = five.replace("10.0.0.5\"", "10.0.0.5:7000\"");
        let e = load_err(BASE, &[&format!("cluster.attach={five}")]);
        assert!(e.to_string().contains("cluster.secret_file"), "{e}");
        let s = load_ok(&edit(
            "mode",
            &format!("attach = {five}\nsecret_file = \"k\""),
        ));
        assert_eq!(s.cluster.remote.attach.len(), 5);
        let e = load_err(BASE, &["cluster.setup_timeout_ms=0"]);
        assert!(e.to_string().contains("cluster.setup_timeout_ms"), "{e}");
    }
}
