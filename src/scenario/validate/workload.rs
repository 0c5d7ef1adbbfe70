//! `[workload]` (the generated tickets) and `[[ticket]]` (the scripted ones).

use super::{generated_index, num, Ctx, Res, K};
use crate::scenario::raw::{RawTicket, RawWorkload};
use crate::scenario::{
    generated_ticket_id, ScriptedTicket, Submission, SubmitTo, Workload, DEFAULT_DEADLINE_MS,
    MAX_MS, MIN_POSITIVE_MS,
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
