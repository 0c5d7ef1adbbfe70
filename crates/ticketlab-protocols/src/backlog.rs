//! [`Backlog`]: a broadcast's received, not yet delivered messages, in receipt order, with
//! membership and removal by id in O(log n) — a loaded server's backlog holds thousands of
//! messages, and a `Vec` searched and filtered per message made its cost quadratic in them.

use super::{AppMsg, MsgId};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// Messages in receipt order, at most one per id.
#[derive(Clone, Debug, Default)]
pub struct Backlog {
    /// Receipt number → message; numbers only grow, so iteration is receipt order.
    by_receipt: BTreeMap<u64, AppMsg>,
    /// Message id → its receipt number.
    receipt_of: BTreeMap<MsgId, u64>,
    next: u64,
}

impl Backlog {
    /// Append `m` unless a message with its id is already here; whether it was appended.
    pub fn push(&mut self, m: AppMsg) -> bool {
        if self.receipt_of.contains_key(&m.id) {
            return false;
        }
        self.receipt_of.insert(m.id, self.next);
        self.by_receipt.insert(self.next, m);
        self.next += 1;
        true
    }

    /// Remove the message with this id; whether it was here.
    pub fn remove(&mut self, id: &MsgId) -> bool {
        match self.receipt_of.remove(id) {
            Some(r) => self.by_receipt.remove(&r).is_some(),
            None => false,
        }
    }

    pub fn contains(&self, id: &MsgId) -> bool {
        self.receipt_of.contains_key(id)
    }

    pub fn get(&self, id: &MsgId) -> Option<&AppMsg> {
        self.receipt_of.get(id).and_then(|r| self.by_receipt.get(r))
    }

    pub fn len(&self) -> usize {
        self.by_receipt.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_receipt.is_empty()
    }

    /// The messages, oldest receipt first.
    pub fn iter(&self) -> impl Iterator<Item = &AppMsg> {
        self.by_receipt.values()
    }

    /// A copy of the messages, oldest receipt first.
    pub fn to_vec(&self) -> Vec<AppMsg> {
        self.iter().cloned().collect()
    }
}

/// The messages in order, nothing else: two backlogs that hold the same messages in the same
/// order behave the same, however many came and went before (`check` merges such states).
impl Hash for Backlog {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.len().hash(state);
        for m in self.iter() {
            m.hash(state);
        }
    }
}

impl PartialEq for Backlog {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Backlog {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, Ticket};
    use std::collections::hash_map::DefaultHasher;

    fn m(origin: u16, seq: u64) -> AppMsg {
        AppMsg {
            id: MsgId { origin, seq },
            body: Body::Validate {
                ticket: Ticket(format!("t{origin}.{seq}")),
            },
        }
    }

    fn hash(b: &Backlog) -> u64 {
        let mut h = DefaultHasher::new();
        b.hash(&mut h);
        h.finish()
    }

    #[test]
    fn keeps_receipt_order_one_copy_per_id_and_removes_by_id() {
        let mut b = Backlog::default();
        assert!(b.is_empty());
        assert!(b.push(m(2, 1)));
        assert!(b.push(m(1, 1)));
        assert!(!b.push(m(2, 1)), "a second copy is not kept");
        assert!(b.push(m(3, 7)));
        assert_eq!(b.len(), 3);
        assert!(b.contains(&m(1, 1).id) && !b.contains(&m(1, 2).id));
        assert_eq!(b.get(&m(3, 7).id), Some(&m(3, 7)));
        assert!(b.remove(&m(1, 1).id));
        assert!(!b.remove(&m(1, 1).id));
        assert_eq!(b.get(&m(1, 1).id), None);
        assert!(b.push(m(1, 1)), "removed, then received again: at the end");
        let order: Vec<MsgId> = b.iter().map(|x| x.id).collect();
        assert_eq!(order, vec![m(2, 1).id, m(3, 7).id, m(1, 1).id]);
        assert_eq!(b.to_vec(), vec![m(2, 1), m(3, 7), m(1, 1)]);
    }

    #[test]
    fn equal_contents_hash_and_compare_equal_whatever_came_and_went() {
        let mut a = Backlog::default();
        a.push(m(1, 1));
        a.push(m(2, 1));
        let mut b = Backlog::default();
        b.push(m(3, 3));
        b.push(m(1, 1));
        b.push(m(2, 1));
        assert_ne!(a, b);
        b.remove(&m(3, 3).id);
        assert_eq!(a, b);
        assert_eq!(hash(&a), hash(&b));
        let mut c = Backlog::default();
        c.push(m(2, 1));
        c.push(m(1, 1));
        assert_ne!(a, c, "order matters");
        assert_ne!(hash(&a), hash(&c));
    }
}
