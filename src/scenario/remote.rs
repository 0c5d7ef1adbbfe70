//! Where a processes-mode run's servers live: `[cluster] launch`, `hosts`, `listen`,
//! `control_addr`, `attach`, `secret_file`, `setup_timeout_ms` (all absent: local servers on
//! loopback, the default). The launch template itself ([`Template`]) is parsed here, so a bad one
//! is a validation error naming the key.

use crate::protocol::{ServerId, Time};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The placeholders a launch template may use.
pub const PLACEHOLDERS: [&str; 4] = ["host", "id", "command", "args"];

/// Where the servers run. [`Remote::is_local`]: the default, n child processes on 127.0.0.1.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Remote {
    /// `launch`: each server is started by `sh -c` of this template (`{host}`, `{id}`,
    /// `{command}` = the whole `ticketlab server …` command line shell-quoted, `{args}` = the
    /// same without the program).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<Template>,
    /// `hosts`: server i's host is `hosts[(i - 1) % len]` (`{host}` in the template; the
    /// orchestrator listens on the address of its route to it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// `listen`: server i binds `listen[(i - 1) % len]` (port 0: any free port).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<SocketAddr>,
    /// `control_addr`: where the orchestrator listens for its servers (port 0: any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_addr: Option<SocketAddr>,
    /// `attach`: server i is the one already listening at `attach[i - 1]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attach: Vec<SocketAddr>,
    /// `secret_file`: the secret the attached servers were given (64 hex digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// `setup_timeout_ms`: how long the cluster may take to come up, µs (None: the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_timeout: Option<Time>,
}

impl Remote {
    /// Nothing set (keeps it out of serialized scenarios).
    pub fn is_default(&self) -> bool {
        self == &Remote::default()
    }

    /// No launch template, no attached servers: local child processes, as always.
    pub fn is_local(&self) -> bool {
        self.launch.is_none() && self.attach.is_empty()
    }

    /// Server `id`'s host (`{host}`), if hosts are given.
    pub fn host(&self, id: ServerId) -> Option<&str> {
        pick(&self.hosts, id).map(String::as_str)
    }

    /// Server `id`'s listen address, if listen addresses are given.
    pub fn listen_addr(&self, id: ServerId) -> Option<SocketAddr> {
        pick(&self.listen, id).copied()
    }
}

fn pick<T>(list: &[T], id: ServerId) -> Option<&T> {
    if list.is_empty() {
        None
    } else {
        list.get((usize::from(id).max(1) - 1) % list.len())
    }
}

/// One piece of a launch template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Host,
    Id,
    Command,
    Args,
}

/// A parsed launch template: text and `{host}`, `{id}`, `{command}`, `{args}` (`{{`/`}}` for
/// literal braces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    text: String,
    pieces: Vec<Piece>,
}

impl Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl Template {
    /// Parse `text`; the error says what is wrong (an unknown or unclosed placeholder, no
    /// `{command}` or `{args}`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(format!(
                            "an unclosed placeholder {{{name}; placeholders are {} ({{{{ and }}}} for literal braces)",
                            placeholder_list()
                        ));
                    }
                    let piece = match name.as_str() {
                        "host" => Piece::Host,
                        "id" => Piece::Id,
                        "command" => Piece::Command,
                        "args" => Piece::Args,
                        _ => {
                            return Err(format!(
                                "an unknown placeholder {{{name}}}; placeholders are {}",
                                placeholder_list()
                            ))
                        }
                    };
                    if !lit.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut lit)));
                    }
                    pieces.push(piece);
                }
                '}' => return Err("a lone }; write }} for a literal brace".to_string()),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        if !pieces
            .iter()
            .any(|p| matches!(p, Piece::Command | Piece::Args))
        {
            return Err(
                "a template that contains {command} (the server's command line) or {args} (its arguments)"
                    .to_string(),
            );
        }
        Ok(Template {
            text: text.to_string(),
            pieces,
        })
    }

    /// The template as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Does it use `{host}`?
    pub fn uses_host(&self) -> bool {
        self.pieces.contains(&Piece::Host)
    }

    /// The shell text for server `id` on `host`: `program` and `args` are shell-quoted.
    pub fn expand(&self, host: &str, id: ServerId, program: &str, args: &[String]) -> String {
        let quoted_args = args
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Host => out.push_str(host),
                Piece::Id => out.push_str(&id.to_string()),
                Piece::Command => {
                    out.push_str(&shell_quote(program));
                    if !quoted_args.is_empty() {
                        out.push(' ');
                        out.push_str(&quoted_args);
                    }
                }
                Piece::Args => out.push_str(&quoted_args),
            }
        }
        out
    }
}

fn placeholder_list() -> String {
    PLACEHOLDERS
        .iter()
        .map(|p| format!("{{{p}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `s` as one POSIX shell word (single quotes unless it is plainly safe).
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A host name or address as `{host}` takes it: letters, digits and `.-_:@%[]` only (it goes
/// into a shell command line unquoted).
pub fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:@%[]".contains(c))
}

/// `"10.0.0.2"` (port 0) or `"10.0.0.2:7000"` / `"[::1]:7000"`.
pub fn parse_addr(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_expand_and_quote() {
        let t = Template::parse("ssh {host} {command}").unwrap();
        assert!(t.uses_host());
        let args = vec!["server".to_string(), "--run-id".into(), "a b'c".into()];
        assert_eq!(
            t.expand("10.0.0.2", 3, "/opt/ticket lab", &args),
            "ssh 10.0.0.2 '/opt/ticket lab' server --run-id 'a b'\\''c'"
        );
        let t = Template::parse("ip netns exec tl{id} /bin/x {args} # {{}}").unwrap();
        assert!(!t.uses_host());
        assert_eq!(
            t.expand("", 2, "p", &["a".into()]),
            "ip netns exec tl2 /bin/x a # {}"
        );
        for (bad, says) in [
            ("ssh {host}", "contains {command}"),
            ("x {cmd} {command}", "unknown placeholder {cmd}"),
            ("x {command", "unclosed placeholder"),
            ("x } {command}", "lone }"),
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn round_robin_hosts_and_addresses() {
        let r = Remote {
            hosts: vec!["a".into(), "b".into()],
            listen: vec![parse_addr("10.0.0.1").unwrap()],
            ..Remote::default()
        };
        assert_eq!(r.host(1), Some("a"));
        assert_eq!(r.host(2), Some("b"));
        assert_eq!(r.host(3), Some("a"));
        assert_eq!(r.listen_addr(5).unwrap().port(), 0);
        assert!(r.is_local());
        assert_eq!(parse_addr("[::1]:7").unwrap().port(), 7);
        assert!(parse_addr("host:7").is_none());
        assert!(valid_host("user@10.0.0.2"));
        assert!(!valid_host("a;rm"));
    }
}
