//! `[workload]` (the generated tickets) and `[[ticket]]` (the scripted ones).

use super::{generated_index, num, Ctx, Res, K};
use crate::scenario::raw::{RawTicket, RawWorkload};
use crate::scenario::{
    generated_ticket_id, Arrivals, OpenLoop, ScriptedTicket, Submission, SubmitTo, Workload,
    DEFAULT_DEADLINE_MS, MAX_MS, MIN_POSITIVE_MS,
};
use std::collections::BTreeMap;

impl Ctx<'_> {
    pub(super) fn workload(&self, raw: &RawWorkload, n: u16) -> Res<Workload> {
        let w = K::root().k("workload");
        let defaults = Workload::default();

        let tickets = match raw.tickets {
            None => defaults.tickets,
            Some(t) if t >= 0 => t as u64,
            Some(t) => return Err(self.invalid(&w.k("tickets"), t, "expected an integer >= 0")),
        };
        let concurrency = match raw.concurrency {
            None => defaults.concurrency,
            Some(c) if c >= 1 && c <= i64::from(u32::MAX) => c as u32,
            Some(c) => {
                return Err(self.invalid(
                    &w.k("concurrency"),
                    c,
                    format!("expected an integer from 1 to {}", u32::MAX),
                ))
            }
        };
        let think = self.ms(&w.k("think_ms"), raw.think_ms, 0.0, 0.0, MAX_MS)?;
        let open = self.open_loop(raw)?;

        let submit_key = w.k("submit_to");
        let submit_expected = || {
            format!(
                "expected \"random\", \"round-robin\" or a non-empty list of server ids from 1 to {n}"
            )
        };
        let submit_to =
            match &raw.submit_to {
                None => defaults.submit_to,
                Some(toml::Value::String(s)) if s == "random" => SubmitTo::Random,
                Some(toml::Value::String(s)) if s == "round-robin" => SubmitTo::RoundRobin,
                Some(toml::Value::Array(a)) if !a.is_empty() => SubmitTo::Servers(
                    self.server_list(&submit_key, a.iter().map(Err).enumerate(), n)?,
                ),
                Some(other) => return Err(self.invalid(&submit_key, other, submit_expected())),
            };

        let dup_key = w.k("duplicates");
        let duplicates = raw.duplicates.unwrap_or(defaults.duplicates);
        if !(duplicates.is_finite() && (0.0..=1.0).contains(&duplicates)) {
            return Err(self.invalid(&dup_key, num(duplicates), "expected a fraction from 0 to 1"));
        }
        if duplicates > 0.0 && n < 2 {
            return Err(self.invalid(
                &dup_key,
                num(duplicates),
                format!(
                    "expected 0 with cluster.servers = {n}: a duplicate goes to another server, so \
                     duplicates need at least 2 servers"
                ),
            ));
        }
        let duplicate_gap = self.ms(
            &w.k("duplicate_gap_ms"),
            raw.duplicate_gap_ms,
            0.0,
            0.0,
            MAX_MS,
        )?;
        let deadline = self.ms(
            &w.k("deadline_ms"),
            raw.deadline_ms,
            DEFAULT_DEADLINE_MS,
            MIN_POSITIVE_MS,
            MAX_MS,
        )?;

        let fraction = |key: &str, v: Option<f64>| -> Res<f64> {
            let v = v.unwrap_or(0.0);
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(self.invalid(&w.k(key), num(v), "expected a fraction from 0 to 1"));
            }
            Ok(v)
        };
        let forged = fraction("forged", raw.forged)?;
        let tampered = fraction("tampered", raw.tampered)?;

        Ok(Workload {
            tickets,
            concurrency,
            open,
            think,
            submit_to,
            duplicates,
            duplicate_gap,
            deadline,
            forged,
            tampered,
            stop_at_first_timeout: false,
        })
    }

    /// `workload.rate` and `workload.arrivals`: the open loop, beside (never with) the closed
    /// loop's `concurrency` and `think_ms`.
    fn open_loop(&self, raw: &RawWorkload) -> Res<Option<OpenLoop>> {
        let w = K::root().k("workload");
        let arrivals =
            match raw.arrivals.as_deref() {
                None => None,
                Some("poisson") => Some(Arrivals::Poisson),
                Some("uniform") => Some(Arrivals::Uniform),
                Some(other) => return Err(self.invalid(
                    &w.k("arrivals"),
                    format!("{other:?}"),
                    "expected \"poisson\" (exponential gaps of mean 1/rate, from the run seed) \
                     or \"uniform\" (every 1/rate s)",
                )),
            };
        let Some(rate) = raw.rate else {
            if let Some(name) = &raw.arrivals {
                return Err(self.invalid(
                    &w.k("arrivals"),
                    format!("{name:?}"),
                    "expected workload.rate as well: arrivals shape the open loop, which \
                     workload.rate (tickets per second) turns on",
                ));
            }
            return Ok(None);
        };
        if !(rate.is_finite() && rate > 0.0) {
            return Err(self.invalid(
                &w.k("rate"),
                num(rate),
                "expected a finite number of tickets per second > 0 (the open loop's arrival \
                 rate)",
            ));
        }
        if let Some(c) = raw.concurrency {
            return Err(self.invalid(
                &w.k("concurrency"),
                c,
                format!(
                    "expected no workload.concurrency with workload.rate = {}: rate is the open \
                     loop (tickets arrive at a rate), concurrency the closed loop (tickets in \
                     flight); set one",
                    num(rate)
                ),
            ));
        }
        if let Some(t) = raw.think_ms.filter(|&t| t != 0.0) {
            return Err(self.invalid(
                &w.k("think_ms"),
                num(t),
                format!(
                    "expected 0 with workload.rate = {}: think time is the closed loop's pause \
                     between a decision and the next submission; open-loop arrivals do not wait",
                    num(rate)
                ),
            ));
        }
        Ok(Some(OpenLoop {
            rate,
            arrivals: arrivals.unwrap_or(Arrivals::Poisson),
        }))
    }

    pub(super) fn tickets(
        &self,
        raw: &[RawTicket],
        n: u16,
        generated: u64,
    ) -> Res<Vec<ScriptedTicket>> {
        let mut out: Vec<ScriptedTicket> = Vec::new();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, t) in raw.iter().enumerate() {
            let entry = K::root().k("ticket").i(i);
            let id_key = entry.k("id");
            if t.id.is_empty() {
                return Err(self.invalid(&id_key, "\"\"", "expected a non-empty ticket id"));
            }
            if let Some(first) = seen.insert(&t.id, i) {
                return Err(self.invalid(
                    &id_key,
                    format!("{:?}", t.id),
                    format!("expected an id unique among [[ticket]] entries (ticket[{first}] has it too)"),
                ));
            }
            if let Some(k) = generated_index(&t.id).filter(|&k| k <= generated) {
                return Err(self.invalid(
                    &id_key,
                    format!("{:?}", t.id),
                    format!(
                        "expected an id other than t1..t{generated}: those are the generated \
                         tickets (workload.tickets = {generated}), and {} is one of them",
                        generated_ticket_id(k)
                    ),
                ));
            }
            let submit_key = entry.k("submit");
            if t.submit.is_empty() {
                return Err(self.invalid(
                    &submit_key,
                    "[]",
                    "expected at least one submission { server = .., at_ms = .. }",
                ));
            }
            let mut submit = Vec::new();
            for (j, s) in t.submit.iter().enumerate() {
                let s_key = submit_key.i(j);
                let server = self.server(&s_key.k("server"), s.server, n)?;
                let at = self.ms(&s_key.k("at_ms"), Some(s.at_ms), 0.0, 0.0, MAX_MS)?;
                submit.push(Submission { server, at });
            }
            out.push(ScriptedTicket {
                id: t.id.clone(),
                submit,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::testkit::*;

    #[test]
    fn rule_tickets_non_negative() {
        assert_err_at(
            &load_err(&edit("tickets", "tickets = -1"), &[]),
            12,
            "workload.tickets",
        );
    }

    #[test]
    fn rule_concurrency_at_least_1() {
        assert_err_at(
            &load_err(&edit("concurrency", "concurrency = 0"), &[]),
            13,
            "workload.concurrency",
        );
    }

    #[test]
    fn rule_think_non_negative() {
        assert_err_at(
            &load_err(&edit("think_ms", "think_ms = -1"), &[]),
            14,
            "workload.think_ms",
        );
    }

    #[test]
    fn rule_submit_to_values() {
        let e = load_err(&edit("submit_to", "submit_to = \"rr\""), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:15: workload.submit_to = \"rr\": expected \"random\", \"round-robin\" or a \
             non-empty list of server ids from 1 to 5"
        );
        assert_err_at(
            &load_err(&edit("submit_to", "submit_to = []"), &[]),
            15,
            "workload.submit_to",
        );
        assert_err_at(
            &load_err(&edit("submit_to", "submit_to = 3"), &[]),
            15,
            "workload.submit_to",
        );
        assert_eq!(
            load_ok(&edit("submit_to", "submit_to = \"round-robin\""))
                .workload
                .submit_to,
            SubmitTo::RoundRobin
        );
    }

    #[test]
    fn rule_submit_to_servers_in_range() {
        let e = load_err(&edit("submit_to", "submit_to = [1, 6]"), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:15: workload.submit_to[1] = 6: expected a server id from 1 to 5 (cluster.servers = 5)"
        );
        assert_err_at(
            &load_err(&edit("submit_to", "submit_to = [0]"), &[]),
            15,
            "workload.submit_to[0]",
        );
        assert_err_at(
            &load_err(&edit("submit_to", "submit_to = [1, \"2\"]"), &[]),
            15,
            "workload.submit_to[1]",
        );
        assert_err_at(
            &load_err(&edit("submit_to", "submit_to = [1, 1]"), &[]),
            15,
            "workload.submit_to[1]",
        );
    }

    #[test]
    fn rule_submit_to_line_of_a_multiline_list() {
        let e = load_err(&edit("submit_to", "submit_to = [\n  1,\n  9,\n]"), &[]);
        assert_err_at(&e, 17, "workload.submit_to[1]");
    }

    #[test]
    fn rule_duplicates_fraction() {
        for bad in ["-0.1", "1.5", "nan"] {
            let e = load_err(&edit("duplicates", &format!("duplicates = {bad}")), &[]);
            assert_err_at(&e, 16, "workload.duplicates");
            assert!(e.to_string().contains("from 0 to 1"), "{e}");
        }
        assert_eq!(
            load_ok(&edit("duplicates", "duplicates = 1"))
                .workload
                .duplicates,
            1.0
        );
    }

    #[test]
    fn rule_duplicates_need_two_servers() {
        let text = edit("duplicates", "duplicates = 0.5").replace("servers = 5", "servers = 1");
        let e = load_err(&text, &[]);
        assert_err_at(&e, 16, "workload.duplicates");
        assert!(e.to_string().contains("at least 2 servers"), "{e}");
    }

    #[test]
    fn rule_duplicate_gap_non_negative() {
        assert_err_at(
            &load_err(&edit("duplicate_gap_ms", "duplicate_gap_ms = -5"), &[]),
            17,
            "workload.duplicate_gap_ms",
        );
    }

    /// BASE in the open loop: `rate` on concurrency's line (13), `extra` after it.
    fn open(rate: &str, extra: &str) -> String {
        edit("concurrency", &format!("rate = {rate}{extra}"))
    }

    #[test]
    fn open_loop_rate_and_arrivals() {
        let w = load_ok(&open("2000", "")).workload;
        assert_eq!(
            w.open,
            Some(OpenLoop {
                rate: 2000.0,
                arrivals: Arrivals::Poisson
            })
        );
        assert_eq!(w.concurrency, 1);
        let w = load_ok(&open("0.5", "\narrivals = \"uniform\"")).workload;
        assert_eq!(
            w.open.map(|o| (o.rate, o.arrivals)),
            Some((0.5, Arrivals::Uniform))
        );
        let w = load_ok(&open("7", "\narrivals = \"poisson\"")).workload;
        assert_eq!(w.open.map(|o| o.arrivals), Some(Arrivals::Poisson));
        assert_eq!(
            load_ok(BASE).workload.open,
            None,
            "the closed loop by default"
        );
    }

    #[test]
    fn rule_rate_finite_and_positive() {
        for bad in ["0", "-5", "nan", "inf", "-inf", "0.0"] {
            let e = load_err(&open(bad, ""), &[]);
            assert_err_at(&e, 13, "workload.rate");
            assert!(
                e.to_string()
                    .contains("a finite number of tickets per second > 0"),
                "{e}"
            );
        }
        let e = load_err(BASE, &["workload.concurrency=1", "workload.rate=-1"]);
        assert!(e.to_string().contains("workload.rate = -1"), "{e}");
        assert!(e.to_string().contains("(from --set)"), "{e}");
    }

    #[test]
    fn rule_rate_and_concurrency_are_the_open_and_the_closed_loop() {
        let e = load_err(&open("100", "\nconcurrency = 1"), &[]);
        assert_err_at(&e, 14, "workload.concurrency");
        let msg = e.to_string();
        assert!(msg.contains("workload.rate = 100"), "{msg}");
        assert!(
            msg.contains("open loop") && msg.contains("closed loop"),
            "{msg}"
        );
        assert!(msg.contains("set one"), "{msg}");
        // BASE sets concurrency: --set workload.rate is refused, pointing at the file's line.
        let e = load_err(BASE, &["workload.rate=100"]);
        assert_err_at(&e, 13, "workload.concurrency");
    }

    #[test]
    fn rule_arrivals_need_rate_and_a_known_shape() {
        let e = load_err(&edit("concurrency", "arrivals = \"uniform\""), &[]);
        assert_err_at(&e, 13, "workload.arrivals");
        assert!(
            e.to_string().contains("expected workload.rate as well"),
            "{e}"
        );
        let e = load_err(&open("10", "\narrivals = \"bursty\""), &[]);
        assert_err_at(&e, 14, "workload.arrivals");
        assert!(
            e.to_string().contains("= \"bursty\": expected \"poisson\""),
            "{e}"
        );
        assert!(e.to_string().contains("\"uniform\""), "{e}");
    }

    #[test]
    fn rule_think_time_is_the_closed_loops() {
        let e = load_err(
            &open("10", "").replace("think_ms = 0.0", "think_ms = 5"),
            &[],
        );
        assert_err_at(&e, 14, "workload.think_ms");
        assert!(
            e.to_string().contains("expected 0 with workload.rate = 10"),
            "{e}"
        );
    }

    #[test]
    fn rule_deadline_positive() {
        assert_err_at(
            &load_err(&edit("deadline_ms", "deadline_ms = 0"), &[]),
            18,
            "workload.deadline_ms",
        );
    }

    #[test]
    fn rule_ticket_id_non_empty() {
        let e = load_err(
            &append("[[ticket]]\nid = \"\"\nsubmit = [{ server = 1, at_ms = 0 }]\n"),
            &[],
        );
        assert_err_at(&e, 20, "ticket[0].id");
    }

    #[test]
    fn rule_ticket_id_unique() {
        let e = load_err(
            &append(
                "[[ticket]]\nid = \"a\"\nsubmit = [{ server = 1, at_ms = 0 }]\n\
                 [[ticket]]\nid = \"a\"\nsubmit = [{ server = 2, at_ms = 0 }]\n",
            ),
            &[],
        );
        assert_err_at(&e, 23, "ticket[1].id");
        assert!(e.to_string().contains("ticket[0]"), "{e}");
    }

    #[test]
    fn rule_ticket_id_not_a_generated_id() {
        let e = load_err(
            &append("[[ticket]]\nid = \"t10\"\nsubmit = [{ server = 1, at_ms = 0 }]\n"),
            &[],
        );
        assert_err_at(&e, 20, "ticket[0].id");
        assert!(e.to_string().contains("t1..t10"), "{e}");
        // Not generated: beyond N, leading zero, not a number.
        for ok in ["t11", "t01", "t0", "tau", "t"] {
            load_ok(&append(&format!(
                "[[ticket]]\nid = \"{ok}\"\nsubmit = [{{ server = 1, at_ms = 0 }}]\n"
            )));
        }
    }

    #[test]
    fn rule_ticket_submit_non_empty() {
        let e = load_err(&append("[[ticket]]\nid = \"a\"\nsubmit = []\n"), &[]);
        assert_err_at(&e, 21, "ticket[0].submit");
    }

    #[test]
    fn rule_ticket_submit_server_in_range() {
        let e = load_err(
            &append("[[ticket]]\nid = \"a\"\nsubmit = [\n  { server = 1, at_ms = 0 },\n  { server = 6, at_ms = 5 },\n]\n"),
            &[],
        );
        assert_err_at(&e, 23, "ticket[0].submit[1].server");
        assert!(
            e.to_string()
                .contains("= 6: expected a server id from 1 to 5"),
            "{e}"
        );
    }

    #[test]
    fn rule_ticket_submit_at_non_negative() {
        let e = load_err(
            &append("[[ticket]]\nid = \"a\"\nsubmit = [{ server = 1, at_ms = -1 }]\n"),
            &[],
        );
        assert_err_at(&e, 21, "ticket[0].submit[0].at_ms");
    }
}
