//! `[[fault]]`: each entry's action and trigger, then the rules that depend on the order of
//! timed faults.

use super::{num, Ctx, Res, K};
use crate::protocol::{ServerId, MSG_KINDS};
use crate::scenario::raw::{RawAfter, RawFault};
use crate::scenario::{After, EventKind, Fault, FaultAction, MAX_MS, MIN_POSITIVE_MS};
use std::collections::{BTreeMap, BTreeSet};

impl Ctx<'_> {
    /// Links `from` → `to` (each a server id or a list), with no server linked to itself.
    fn links(
        &self,
        key: &K,
        from: Option<&toml::Value>,
        to: Option<&toml::Value>,
        n: u16,
    ) -> Res<(Vec<ServerId>, Vec<ServerId>)> {
        let all: Vec<ServerId> = (1..=n).collect();
        let from_given = from;
        let from = match from {
            Some(v) => self.server_or_list(&key.k("from"), v, n)?,
            None => all.clone(),
        };
        let to_list = match to {
            Some(v) => self.server_or_list(&key.k("to"), v, n)?,
            None => all,
        };
        if let (Some(v), Some(_)) = (to, from_given) {
            let from_set: BTreeSet<ServerId> = from.iter().copied().collect();
            if let Some(&s) = to_list.iter().find(|s| from_set.contains(s)) {
                return Err(self.invalid(
                    &key.k("to"),
                    v,
                    format!(
                        "expected servers other than those in {key}.from: {s} is in both, and a \
                         link from {s} to itself is not a link"
                    ),
                ));
            }
        }
        Ok((from, to_list))
    }

    /// A non-empty list of distinct servers.
    fn servers(&self, key: &K, list: &[i64], n: u16) -> Res<Vec<ServerId>> {
        if list.is_empty() {
            return Err(self.invalid(
                key,
                "[]",
                format!("expected a non-empty list of server ids from 1 to {n}"),
            ));
        }
        let mut ids = Vec::new();
        for (j, &s) in list.iter().enumerate() {
            ids.push((j, Ok(self.server(&key.i(j), s, n)?)));
        }
        self.server_list(key, ids, n)
    }

    fn after(&self, key: &K, a: &RawAfter, n: u16) -> Res<After> {
        let server = self.server(&key.k("server"), a.server, n)?;
        let event = match (a.event.as_str(), &a.msg) {
            ("accept", None) => EventKind::Accept,
            ("reject", None) => EventKind::Reject,
            ("decide", None) => EventKind::Decide,
            ("send", Some(m)) if MSG_KINDS.contains(&m.as_str()) => EventKind::Send(m.clone()),
            ("send", Some(m)) => {
                return Err(self.invalid(
                    &key.k("msg"),
                    format!("{m:?}"),
                    format!("expected a message type, one of {}", MSG_KINDS.join(", ")),
                ))
            }
            ("send", None) => {
                return Err(self.schema(
                    &key.k("msg"),
                    "missing; event = \"send\" needs msg = a message type, e.g. \"NEWTKT\"",
                ))
            }
            ("accept" | "reject" | "decide", Some(_)) => {
                return Err(self.schema(&key.k("msg"), "only goes with event = \"send\""))
            }
            (other, _) => {
                return Err(self.invalid(
                    &key.k("event"),
                    format!("{other:?}"),
                    "expected \"accept\", \"reject\", \"decide\" or \"send\"",
                ))
            }
        };
        let count = match a.count {
            None => 1,
            Some(c) if (1..=i64::from(u32::MAX)).contains(&c) => c as u32,
            Some(c) => return Err(self.invalid(&key.k("count"), c, "expected an integer >= 1")),
        };
        Ok(After {
            server,
            event,
            count,
        })
    }

    pub(super) fn faults(&self, raw: &[RawFault], n: u16) -> Res<Vec<Fault>> {
        let mut out = Vec::new();
        // Server → the fault that crashes it.
        let mut crashed: BTreeMap<ServerId, usize> = BTreeMap::new();
        for (i, f) in raw.iter().enumerate() {
            let entry = K::root().k("fault").i(i);
            let (at, after) = match (&f.at_ms, &f.after) {
                (Some(ms), None) => (
                    self.ms(&entry.k("at_ms"), Some(*ms), 0.0, 0.0, MAX_MS)?,
                    None,
                ),
                (None, Some(a)) => (0, Some(self.after(&entry.k("after"), a, n)?)),
                (Some(_), Some(_)) => {
                    return Err(self.schema(
                        &entry.k("after"),
                        "expected either at_ms (a time) or after (an event), not both",
                    ))
                }
                (None, None) => return Err(self.schema(
                    &entry.k("at_ms"),
                    "missing; a fault needs at_ms = <time> or after = { server = .., event = .. }",
                )),
            };
            let actions = [
                f.crash.is_some(),
                f.delay.is_some(),
                f.pause.is_some(),
                f.resume.is_some(),
                f.partition.is_some(),
                f.heal.is_some(),
                f.block.is_some(),
                f.loss.is_some(),
                f.suspect.is_some(),
                f.byzantine.is_some(),
            ];
            let count = actions.iter().filter(|a| **a).count();
            if count != 1 {
                return Err(self.schema(
                    &entry,
                    format!(
                        "expected exactly one action besides at_ms/after: crash, delay, pause, \
                         resume, partition, heal, block, loss, suspect or byzantine (found {})",
                        if count == 0 {
                            "none".to_string()
                        } else {
                            count.to_string()
                        }
                    ),
                ));
            }
            let action = if let Some(crash) = &f.crash {
                let key = entry.k("crash");
                let ids = self.servers(&key, crash, n)?;
                for (j, &s) in ids.iter().enumerate() {
                    if let Some(other) = crashed.insert(s, i) {
                        return Err(self.invalid(
                            &key.i(j),
                            s,
                            format!(
                                "expected each server crashed by at most one fault (fault[{other}] \
                                 already crashes server {s})"
                            ),
                        ));
                    }
                }
                FaultAction::Crash(ids)
            } else if let Some(d) = &f.delay {
                let key = entry.k("delay");
                let (from, to) = self.links(&key, Some(&d.from), Some(&d.to), n)?;
                let delay = self.ms(&key.k("ms"), Some(d.ms), 0.0, 0.0, MAX_MS)?;
                FaultAction::Delay { from, to, delay }
            } else if let Some(p) = &f.pause {
                FaultAction::Pause(self.servers(&entry.k("pause"), p, n)?)
            } else if let Some(p) = &f.resume {
                FaultAction::Resume(self.servers(&entry.k("resume"), p, n)?)
            } else if let Some(groups) = &f.partition {
                let key = entry.k("partition");
                let mut seen: BTreeMap<ServerId, usize> = BTreeMap::new();
                let mut out_groups = Vec::new();
                for (g, group) in groups.iter().enumerate() {
                    let ids = self.servers(&key.i(g), group, n)?;
                    for (j, &s) in ids.iter().enumerate() {
                        if let Some(other) = seen.insert(s, g) {
                            return Err(self.invalid(
                                &key.i(g).i(j),
                                s,
                                format!("expected groups that do not overlap ({key}[{other}] already holds {s})"),
                            ));
                        }
                    }
                    out_groups.push(ids);
                }
                if out_groups.len() < 2 {
                    return Err(self.invalid(
                        &key,
                        format!("{groups:?}"),
                        "expected at least two groups, e.g. [[1, 2], [3, 4, 5]]",
                    ));
                }
                if let Some(missing) = (1..=n).find(|s| !seen.contains_key(s)) {
                    return Err(self.invalid(
                        &key,
                        format!("{groups:?}"),
                        format!("expected every server in exactly one group: server {missing} is in none"),
                    ));
                }
                FaultAction::Partition(out_groups)
            } else if let Some(h) = f.heal {
                if !h {
                    return Err(self.invalid(&entry.k("heal"), h, "expected heal = true"));
                }
                FaultAction::Heal
            } else if let Some(b) = &f.block {
                let (from, to) = self.links(&entry.k("block"), Some(&b.from), Some(&b.to), n)?;
                FaultAction::Block { from, to }
            } else if let Some(l) = &f.loss {
                let key = entry.k("loss");
                let (from, to) = self.links(&key, l.from.as_ref(), l.to.as_ref(), n)?;
                if !(l.rate.is_finite() && (0.0..0.95).contains(&l.rate)) {
                    return Err(self.invalid(
                        &key.k("rate"),
                        num(l.rate),
                        "expected a loss probability from 0 to 0.95 (links stay reliable: lost \
                         transmissions are retransmitted)",
                    ));
                }
                FaultAction::Loss {
                    from,
                    to,
                    rate: l.rate,
                }
            } else if let Some(sus) = &f.suspect {
                let key = entry.k("suspect");
                let by = self.server(&key.k("by"), sus.by, n)?;
                let server = self.server(&key.k("server"), sus.server, n)?;
                if by == server {
                    return Err(self.invalid(
                        &key.k("server"),
                        server,
                        format!("expected a server other than by = {by} (a server never suspects itself)"),
                    ));
                }
                let duration = self.ms(
                    &key.k("for_ms"),
                    Some(sus.for_ms),
                    0.0,
                    MIN_POSITIVE_MS,
                    MAX_MS,
                )?;
                FaultAction::Suspect {
                    by,
                    server,
                    duration,
                }
            } else if let Some(byz) = &f.byzantine {
                let key = entry.k("byzantine");
                let servers = self.servers(&key.k("servers"), &byz.servers, n)?;
                let behaviour = self.behaviour(&key.k("behaviour"), &byz.behaviour)?;
                FaultAction::Byzantine { servers, behaviour }
            } else {
                unreachable!("exactly one action was checked above")
            };
            if after.is_some()
                && !matches!(action, FaultAction::Crash(_) | FaultAction::Suspect { .. })
            {
                return Err(self.schema(
                    &entry.k("after"),
                    "only crash and suspect faults can fire on an event; use at_ms for the others",
                ));
            }
            out.push(Fault { at, after, action });
        }
        self.fault_timeline(raw, &out)?;
        Ok(out)
    }

    /// Rules that depend on the order of timed faults: resume only a paused server, heal only
    /// a cut, one partition at a time, nothing done to a server after it crashed.
    fn fault_timeline(&self, raw: &[RawFault], faults: &[Fault]) -> Res<()> {
        let mut order: Vec<usize> = (0..faults.len())
            .filter(|&i| faults[i].after.is_none())
            .collect();
        order.sort_by_key(|&i| faults[i].at);
        let mut paused: BTreeMap<ServerId, usize> = BTreeMap::new();
        let mut crashed: BTreeMap<ServerId, usize> = BTreeMap::new();
        let mut partition: Option<usize> = None;
        let mut blocked = false;
        for i in order {
            let entry = K::root().k("fault").i(i);
            let _ = &raw[i];
            match &faults[i].action {
                FaultAction::Crash(ids) => {
                    for s in ids {
                        crashed.insert(*s, i);
                        paused.remove(s);
                    }
                }
                FaultAction::Pause(ids) => {
                    for (j, s) in ids.iter().enumerate() {
                        if let Some(c) = crashed.get(s) {
                            return Err(self.invalid(&entry.k("pause").i(j), s, format!("expected a live server (fault[{c}] crashed server {s} earlier)")));
                        }
                        if let Some(p) = paused.insert(*s, i) {
                            return Err(self.invalid(&entry.k("pause").i(j), s, format!("expected a running server (fault[{p}] already paused server {s}; resume it first)")));
                        }
                    }
                }
                FaultAction::Resume(ids) => {
                    for (j, s) in ids.iter().enumerate() {
                        if paused.remove(s).is_none() {
                            return Err(self.invalid(&entry.k("resume").i(j), s, format!("expected a paused server (server {s} is not paused at that time)")));
                        }
                    }
                }
                FaultAction::Partition(_) => {
                    if let Some(p) = partition {
                        return Err(self.schema(
                            &entry.k("partition"),
                            format!("a partition is already in force (fault[{p}]); heal it first"),
                        ));
                    }
                    partition = Some(i);
                }
                FaultAction::Block { .. } => blocked = true,
                FaultAction::Heal => {
                    if partition.is_none() && !blocked {
                        return Err(self.schema(
                            &entry.k("heal"),
                            "nothing to heal: no partition or block is in force at that time",
                        ));
                    }
                    partition = None;
                    blocked = false;
                }
                FaultAction::Suspect { by, server, .. } => {
                    for (name, s) in [("by", by), ("server", server)] {
                        if let Some(c) = crashed.get(s).filter(|_| name == "by") {
                            return Err(self.invalid(&entry.k("suspect").k(name), s, format!("expected a live server (fault[{c}] crashed server {s} earlier)")));
                        }
                    }
                }
                FaultAction::Delay { .. }
                | FaultAction::Loss { .. }
                | FaultAction::Byzantine { .. } => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::testkit::*;

    #[test]
    fn rule_fault_at_non_negative() {
        let e = load_err(&append("[[fault]]\nat_ms = -1\ncrash = [1]\n"), &[]);
        assert_err_at(&e, 20, "fault[0].at_ms");
    }

    #[test]
    fn rule_fault_exactly_one_action() {
        let e = load_err(&append("[[fault]]\nat_ms = 1\n"), &[]);
        assert_err_at(&e, 19, "fault[0]");
        assert!(e.to_string().contains("(found none)"), "{e}");
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ncrash = [1]\n[[fault]]\nat_ms = 1\ncrash = [2]\ndelay = { from = 1, to = 2, ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 22, "fault[1]");
        assert!(e.to_string().contains("(found 2)"), "{e}");
    }

    #[test]
    fn rule_fault_crash_non_empty() {
        let e = load_err(&append("[[fault]]\nat_ms = 1\ncrash = []\n"), &[]);
        assert_err_at(&e, 21, "fault[0].crash");
    }

    #[test]
    fn rule_fault_crash_in_range() {
        let e = load_err(&append("[[fault]]\nat_ms = 1\ncrash = [2, 0]\n"), &[]);
        assert_err_at(&e, 21, "fault[0].crash[1]");
    }

    #[test]
    fn rule_fault_server_crashed_once() {
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ncrash = [3]\n[[fault]]\nat_ms = 2\ncrash = [1, 3]\n"),
            &[],
        );
        assert_err_at(&e, 24, "fault[1].crash[1]");
        assert!(
            e.to_string().contains("fault[0] already crashes server 3"),
            "{e}"
        );
        let e = load_err(&append("[[fault]]\nat_ms = 1\ncrash = [3, 3]\n"), &[]);
        assert_err_at(&e, 21, "fault[0].crash[1]");
    }

    #[test]
    fn rule_fault_delay_from_to_in_range() {
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = 6, to = 1, ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.from");
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = 2, to = [1, 9], ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.to[1]");
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = [], to = 1, ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.from");
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = \"a\", to = 1, ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.from");
    }

    #[test]
    fn rule_fault_delay_ms_non_negative() {
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = 2, to = 1, ms = -1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.ms");
    }

    #[test]
    fn rule_fault_delay_no_self_link() {
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = [1, 2], to = [3, 2], ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.to");
        assert!(e.to_string().contains("2 is in both"), "{e}");
    }

    #[test]
    fn rule_fault_delay_table_form() {
        // A [fault.delay] sub-table works the same, and errors point into it.
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\n[fault.delay]\nfrom = 1\nto = 1\nms = 1\n"),
            &[],
        );
        assert_err_at(&e, 23, "fault[0].delay.to");
    }

    // --- The fault vocabulary (issue "Faults") -------------------------------------------

    #[test]
    fn the_whole_fault_vocabulary_loads() {
        let s = load_ok(&append(
            "[[fault]]\nafter = { server = 1, event = \"accept\" }\ncrash = [1]\n\
             [[fault]]\nafter = { server = 2, event = \"send\", msg = \"C-PROPOSE\", count = 3 }\ncrash = [2]\n\
             [[fault]]\nat_ms = 10\npause = [3]\n[[fault]]\nat_ms = 20\nresume = [3]\n\
             [[fault]]\nat_ms = 30\npartition = [[1, 2], [3, 4, 5]]\n[[fault]]\nat_ms = 40\nheal = true\n\
             [[fault]]\nat_ms = 50\nblock = { from = 1, to = 3 }\n[[fault]]\nat_ms = 60\nheal = true\n\
             [[fault]]\nat_ms = 0\nloss = { rate = 0.2 }\n\
             [[fault]]\nat_ms = 0\nloss = { from = 4, to = [1, 2], rate = 0.5 }\n\
             [[fault]]\nat_ms = 5\nsuspect = { by = 4, server = 5, for_ms = 50 }\n",
        ));
        assert_eq!(s.faults.len(), 11);
        assert_eq!(
            s.faults[1].after,
            Some(After {
                server: 2,
                event: EventKind::Send("C-PROPOSE".into()),
                count: 3
            })
        );
        assert_eq!(
            s.faults[4].action,
            FaultAction::Partition(vec![vec![1, 2], vec![3, 4, 5]])
        );
        assert_eq!(
            s.faults[8].action,
            FaultAction::Loss {
                from: vec![1, 2, 3, 4, 5],
                to: vec![1, 2, 3, 4, 5],
                rate: 0.2
            }
        );
        assert_eq!(
            s.faults[10].action,
            FaultAction::Suspect {
                by: 4,
                server: 5,
                duration: 50_000
            }
        );
    }

    #[test]
    fn rule_fault_time_or_event() {
        let e = fault_err("[[fault]]\ncrash = [1]\n");
        assert!(e.contains("fault[0].at_ms") && e.contains("missing"), "{e}");
        let e = fault_err(
            "[[fault]]\nat_ms = 1\nafter = { server = 1, event = \"accept\" }\ncrash = [1]\n",
        );
        assert!(e.contains("not both"), "{e}");
        let e = fault_err("[[fault]]\nafter = { server = 1, event = \"accept\" }\npause = [1]\n");
        assert!(
            e.contains("fault[0].after") && e.contains("only crash and suspect"),
            "{e}"
        );
        // A suspicion may fire on an event (targeted: right after a coordinator proposes).
        let s = load_ok(&append(
            "[[fault]]\nafter = { server = 1, event = \"send\", msg = \"C-PROPOSE\" }\n\
             suspect = { by = 2, server = 1, for_ms = 30 }\n",
        ));
        let f = s.faults.last().unwrap();
        assert_eq!(f.after.as_ref().map(|a| a.server), Some(1));
        assert!(matches!(
            f.action,
            FaultAction::Suspect {
                by: 2,
                server: 1,
                ..
            }
        ));
    }

    #[test]
    fn rule_fault_after_event() {
        let e = fault_err("[[fault]]\nafter = { server = 9, event = \"accept\" }\ncrash = [1]\n");
        assert!(e.contains("fault[0].after.server = 9"), "{e}");
        let e = fault_err("[[fault]]\nafter = { server = 1, event = \"explode\" }\ncrash = [1]\n");
        assert!(
            e.contains("fault[0].after.event") && e.contains("\"send\""),
            "{e}"
        );
        let e = fault_err("[[fault]]\nafter = { server = 1, event = \"send\" }\ncrash = [1]\n");
        assert!(
            e.contains("fault[0].after.msg") && e.contains("NEWTKT"),
            "{e}"
        );
        let e = fault_err(
            "[[fault]]\nafter = { server = 1, event = \"send\", msg = \"HELLO\" }\ncrash = [1]\n",
        );
        assert!(
            e.contains("fault[0].after.msg = \"HELLO\"") && e.contains("C-PROPOSE"),
            "{e}"
        );
        let e = fault_err(
            "[[fault]]\nafter = { server = 1, event = \"accept\", count = 0 }\ncrash = [1]\n",
        );
        assert!(e.contains("fault[0].after.count = 0"), "{e}");
    }

    #[test]
    fn rule_pause_and_resume() {
        let e = fault_err("[[fault]]\nat_ms = 1\npause = [6]\n");
        assert!(e.contains("test.toml:21: fault[0].pause[0] = 6"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\nresume = [2]\n");
        assert!(
            e.contains("fault[0].resume[0] = 2") && e.contains("not paused"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 5\nresume = [2]\n[[fault]]\nat_ms = 1\npause = [2]\n[[fault]]\nat_ms = 2\npause = [2]\n");
        assert!(
            e.contains("fault[2].pause[0] = 2") && e.contains("already paused"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 1\ncrash = [2]\n[[fault]]\nat_ms = 2\npause = [2]\n");
        assert!(
            e.contains("fault[1].pause[0] = 2") && e.contains("crashed"),
            "{e}"
        );
    }

    #[test]
    fn rule_partition_groups() {
        let e = fault_err("[[fault]]\nat_ms = 1\npartition = [[1, 2], [2, 3, 4, 5]]\n");
        assert!(
            e.contains("fault[0].partition[1][0] = 2") && e.contains("overlap"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 1\npartition = [[1, 2], [3, 4]]\n");
        assert!(e.contains("server 5 is in none"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\npartition = [[1, 2, 3, 4, 5]]\n");
        assert!(e.contains("at least two groups"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\npartition = [[1, 7], [2, 3, 4, 5]]\n");
        assert!(e.contains("fault[0].partition[0][1] = 7"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\npartition = [[1], [2, 3, 4, 5]]\n[[fault]]\nat_ms = 2\npartition = [[1, 2], [3, 4, 5]]\n");
        assert!(
            e.contains("fault[1].partition") && e.contains("heal it first"),
            "{e}"
        );
    }

    #[test]
    fn rule_heal_needs_a_cut() {
        let e = fault_err("[[fault]]\nat_ms = 1\nheal = true\n");
        assert!(
            e.contains("test.toml:21: fault[0].heal") && e.contains("nothing to heal"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 9\nheal = true\n[[fault]]\nat_ms = 10\nblock = { from = 1, to = 2 }\n");
        assert!(e.contains("fault[0].heal"), "heal before the block: {e}");
        let e = fault_err("[[fault]]\nat_ms = 1\nblock = { from = 1, to = 2 }\n[[fault]]\nat_ms = 2\nheal = false\n");
        assert!(e.contains("fault[1].heal = false"), "{e}");
    }

    #[test]
    fn rule_block_and_loss_links() {
        let e = fault_err("[[fault]]\nat_ms = 1\nblock = { from = 1, to = 1 }\n");
        assert!(
            e.contains("fault[0].block.to") && e.contains("itself"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 1\nblock = { from = 1, to = 8 }\n");
        assert!(e.contains("fault[0].block.to = 8"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\nloss = { rate = 1.0 }\n");
        assert!(
            e.contains("fault[0].loss.rate = 1") && e.contains("0.95"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 1\nloss = { from = 0, rate = 0.1 }\n");
        assert!(e.contains("fault[0].loss.from = 0"), "{e}");
    }

    #[test]
    fn rule_suspect() {
        let e = fault_err("[[fault]]\nat_ms = 1\nsuspect = { by = 2, server = 2, for_ms = 10 }\n");
        assert!(
            e.contains("fault[0].suspect.server = 2") && e.contains("never suspects itself"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 1\nsuspect = { by = 2, server = 3, for_ms = 0 }\n");
        assert!(e.contains("fault[0].suspect.for_ms = 0"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\nsuspect = { by = 2, server = 3 }\n");
        assert!(e.contains("for_ms"), "{e}");
    }
}
