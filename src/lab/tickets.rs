//! Signed tickets: the issuer signs every ticket it sells, servers verify before validating.
//!
//! The paper assumes tickets cannot be forged (its footnote: issuers sign tickets). The lab makes
//! it real: one Ed25519 **issuer key per run**, derived from the run's seed (SHA-256 of a label and
//! the seed, like bft-fleet's server keys), so the simulator stays deterministic. A ticket travels
//! from the user to a server as a compact text, [`SignedTicket::encode`]:
//!
//! ```text
//! <id>|<value>|<expiry µs>|<key id: 16 hex>|<signature: 128 hex>
//! ```
//!
//! The signature covers (id, value, expiry); the key id names the signing key (the first 8 bytes
//! of SHA-256 of its public key). The protocols never see any of it: the runtime verifies with
//! [`Verifier::check`] when a server takes the ticket in (the simulator in its `Receive`, a real
//! server in its node loop) and hands the protocol the bare id — the history's `ticket` stays the
//! id. A bad ticket is rejected there, locally, with no protocol message, and recorded as `refused`
//! with a [`Rejection`] reason:
//! - `forged`: signed by a key that is not the issuer's (a forger's);
//! - `tampered`: the issuer's key id, but the signature does not match the fields (a field was
//!   changed after signing), or the text does not parse;
//! - `expired`: genuine, but past its expiry.
//!
//! Which generated tickets are bad is drawn per ticket id from the seed ([`Issuer::credential`]):
//! `workload.forged` of them are forged, `workload.tampered` of the others tampered.

use crate::protocol::{Ticket, Time};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

pub use crate::history::Rejection;

/// A generated ticket's fare (the signed `value`), cents.
pub const FARE: u64 = 250;
/// A generated ticket's validity from the run's start, µs (a year: no run reaches it).
pub const VALIDITY: Time = 365 * 24 * 3600 * 1_000_000;

/// A ticket as the user holds it: the fields and the signature over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTicket {
    pub id: Ticket,
    pub value: u64,
    /// Not valid after this time (µs since the run's start).
    pub expiry: Time,
    /// The signing key's id (see [`key_id`]).
    pub key: [u8; 8],
    pub sig: [u8; 64],
}

impl SignedTicket {
    /// The compact text a user hands to a server.
    pub fn encode(&self) -> String {
        let mut s = format!("{}|{}|{}|", self.id.0, self.value, self.expiry);
        hex(&mut s, &self.key);
        s.push('|');
        hex(&mut s, &self.sig);
        s
    }

    /// Parse [`encode`](Self::encode)'s text; the id may itself contain `|`.
    pub fn decode(text: &str) -> Option<SignedTicket> {
        let mut parts = text.rsplitn(5, '|');
        let sig = unhex::<64>(parts.next()?)?;
        let key = unhex::<8>(parts.next()?)?;
        let expiry = parts.next()?.parse().ok()?;
        let value = parts.next()?.parse().ok()?;
        let id = Ticket(parts.next()?.to_string());
        Some(SignedTicket {
            id,
            value,
            expiry,
            key,
            sig,
        })
    }

    /// The id, even from a text that does not parse (everything before the first `|`).
    pub fn id_of(text: &str) -> Ticket {
        match SignedTicket::decode(text) {
            Some(t) => t.id,
            None => Ticket(text.split('|').next().unwrap_or(text).to_string()),
        }
    }
}

/// The bytes a signature covers.
fn message(id: &Ticket, value: u64, expiry: Time) -> Vec<u8> {
    let mut m = b"ticketlab ticket v1\0".to_vec();
    m.extend_from_slice(&(id.0.len() as u64).to_le_bytes());
    m.extend_from_slice(id.0.as_bytes());
    m.extend_from_slice(&value.to_le_bytes());
    m.extend_from_slice(&expiry.to_le_bytes());
    m
}

/// A public key's id: the first 8 bytes of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> [u8; 8] {
    let h = Sha256::digest(key.as_bytes());
    let mut id = [0; 8];
    id.copy_from_slice(&h[..8]);
    id
}

fn derive_key(label: &str, seed: u64) -> SigningKey {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update(seed.to_le_bytes());
    SigningKey::from_bytes(&h.finalize().into())
}

/// A number in [0, 1) drawn from (seed, label, ticket id): the same for every protocol and runtime.
fn draw(seed: u64, label: &str, id: &Ticket) -> f64 {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update(seed.to_le_bytes());
    h.update(id.0.as_bytes());
    let d = h.finalize();
    let mut b = [0; 8];
    b.copy_from_slice(&d[..8]);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// What kind of credential a ticket's user holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Genuine,
    /// Signed by the forger's key.
    Forged,
    /// Signed by the issuer, then a field changed.
    Tampered,
}

/// The run's issuer (and the run's forger): signs the users' tickets.
#[derive(Debug)]
pub struct Issuer {
    seed: u64,
    key: SigningKey,
    forger: SigningKey,
}

impl Issuer {
    /// The issuer of the run with this seed.
    pub fn derive(seed: u64) -> Self {
        Issuer {
            seed,
            key: derive_key("ticketlab issuer", seed),
            forger: derive_key("ticketlab forger", seed),
        }
    }

    /// The issuer's public key, as a real server receives it.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// What servers need to verify: the issuer's public key.
    pub fn verifier(&self) -> Verifier {
        Verifier::new(self.key.verifying_key().to_bytes())
    }

    /// A ticket signed by `key`.
    fn sign_with(key: &SigningKey, id: &Ticket, value: u64, expiry: Time) -> SignedTicket {
        SignedTicket {
            id: id.clone(),
            value,
            expiry,
            key: key_id(&key.verifying_key()),
            sig: key.sign(&message(id, value, expiry)).to_bytes(),
        }
    }

    /// A genuine ticket.
    pub fn sign(&self, id: &Ticket, value: u64, expiry: Time) -> SignedTicket {
        Issuer::sign_with(&self.key, id, value, expiry)
    }

    /// Which kind of credential ticket `id` is: `forged` of the tickets are forged, `tampered` of
    /// the others tampered — drawn per id from the seed.
    pub fn kind(&self, id: &Ticket, forged: f64, tampered: f64) -> Kind {
        if forged > 0.0 && draw(self.seed, "forged", id) < forged {
            Kind::Forged
        } else if tampered > 0.0 && draw(self.seed, "tampered", id) < tampered {
            Kind::Tampered
        } else {
            Kind::Genuine
        }
    }

    /// The credential of a ticket of this kind: the standard fare, valid for [`VALIDITY`]. A
    /// tampered ticket's value or expiry (drawn from the seed) is raised after signing.
    pub fn credential(&self, id: &Ticket, kind: Kind) -> SignedTicket {
        match kind {
            Kind::Genuine => self.sign(id, FARE, VALIDITY),
            Kind::Forged => Issuer::sign_with(&self.forger, id, FARE, VALIDITY),
            Kind::Tampered => {
                let mut t = self.sign(id, FARE, VALIDITY);
                if draw(self.seed, "tampered field", id) < 0.5 {
                    t.value *= 10;
                } else {
                    t.expiry += VALIDITY;
                }
                t
            }
        }
    }
}

/// A server's check of the tickets it takes in: the issuer's public key.
#[derive(Clone, Debug)]
pub struct Verifier {
    key: Option<VerifyingKey>,
    id: [u8; 8],
}

impl Verifier {
    /// From the issuer's public key bytes (an invalid key rejects every ticket as forged).
    pub fn new(public: [u8; 32]) -> Self {
        let key = VerifyingKey::from_bytes(&public).ok();
        let id = key.as_ref().map(key_id).unwrap_or_default();
        Verifier { key, id }
    }

    /// Verify the text a user handed over at `now`: the bare ticket for the protocol, or why it is
    /// rejected (with the id it claims, for the history).
    pub fn check(&self, text: &str, now: Time) -> Result<Ticket, (Ticket, Rejection)> {
        self.check_all(&[text], now)
            .pop()
            .expect("one verdict per text")
    }

    /// [`check`](Self::check) for several texts taken in together at `now`, one verdict each, in
    /// order — the same verdicts, for about half the CPU per signature once a dozen are together:
    /// the issuer's signatures are checked with Ed25519 batch verification
    /// ([`ed25519_dalek::verify_batch`]); a batch that fails is split in halves until each bad
    /// signature stands alone, so one tampered ticket costs its neighbours a few more checks, not
    /// their verdicts. Forged tickets (another key's id) never enter a batch.
    pub fn check_all(&self, texts: &[&str], now: Time) -> Vec<Result<Ticket, (Ticket, Rejection)>> {
        let mut verdicts = Vec::with_capacity(texts.len());
        // The tickets whose signature is to be checked: (verdict index, message, signature, expiry).
        let mut signed = Vec::new();
        for text in texts {
            let verdict = match (SignedTicket::decode(text), &self.key) {
                (None, _) => Err((SignedTicket::id_of(text), Rejection::Tampered)),
                (Some(t), None) => Err((t.id, Rejection::Forged)),
                (Some(t), Some(_)) if t.key != self.id => Err((t.id, Rejection::Forged)),
                (Some(t), Some(_)) => {
                    let m = message(&t.id, t.value, t.expiry);
                    signed.push((verdicts.len(), m, Signature::from_bytes(&t.sig), t.expiry));
                    Ok(t.id)
                }
            };
            verdicts.push(verdict);
        }
        if let Some(key) = &self.key {
            let mut genuine = vec![false; signed.len()];
            for (chunk, g) in signed.chunks(BATCH).zip(genuine.chunks_mut(BATCH)) {
                verify_split(key, chunk, g);
            }
            for ((i, _, _, expiry), genuine) in signed.iter().zip(genuine) {
                let v = &mut verdicts[*i];
                if let Ok(id) = v {
                    if !genuine {
                        *v = Err((id.clone(), Rejection::Tampered));
                    } else if now > *expiry {
                        *v = Err((id.clone(), Rejection::Expired));
                    }
                }
            }
        }
        verdicts
    }
}

/// Signatures per batch verification: measured (`cargo test --release --test tickets --
/// --ignored --nocapture`), 16 costs ~14 µs a signature, 32 and 64 ~15 µs (the multiscalar
/// multiplication grows faster than it shares), one alone ~28 µs.
const BATCH: usize = 16;

/// Mark in `genuine` which of `signed`'s signatures `key` made: one batch verification for the
/// lot, halves of a failed batch checked again, a lone signature on its own.
fn verify_split(
    key: &VerifyingKey,
    signed: &[(usize, Vec<u8>, Signature, Time)],
    genuine: &mut [bool],
) {
    match signed {
        [] => {}
        [(_, m, sig, _)] => genuine[0] = key.verify(m, sig).is_ok(),
        _ => {
            let messages: Vec<&[u8]> = signed.iter().map(|s| &s.1[..]).collect();
            let sigs: Vec<Signature> = signed.iter().map(|s| s.2).collect();
            let keys = vec![*key; signed.len()];
            if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
                genuine.fill(true);
            } else {
                let half = signed.len() / 2;
                let (g1, g2) = genuine.split_at_mut(half);
                verify_split(key, &signed[..half], g1);
                verify_split(key, &signed[half..], g2);
            }
        }
    }
}

fn hex(s: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genuine_tickets_pass_and_bad_ones_are_rejected_with_their_reason() {
        let issuer = Issuer::derive(7);
        let v = issuer.verifier();
        let id = Ticket::from("t1");
        let good = issuer.credential(&id, Kind::Genuine).encode();
        assert_eq!(v.check(&good, 0), Ok(id.clone()));
        let forged = issuer.credential(&id, Kind::Forged).encode();
        assert_eq!(v.check(&forged, 0), Err((id.clone(), Rejection::Forged)));
        let tampered = issuer.credential(&id, Kind::Tampered).encode();
        assert_eq!(
            v.check(&tampered, 0),
            Err((id.clone(), Rejection::Tampered))
        );
        let short = issuer.sign(&id, FARE, 1000).encode();
        assert_eq!(v.check(&short, 1000), Ok(id.clone()));
        assert_eq!(v.check(&short, 1001), Err((id.clone(), Rejection::Expired)));
        assert_eq!(v.check("t1", 0), Err((id.clone(), Rejection::Tampered)));
        assert_eq!(
            Issuer::derive(8).verifier().check(&good, 0),
            Err((id, Rejection::Forged)),
            "another run's issuer is not this run's"
        );
    }

    #[test]
    fn a_batch_gets_the_verdicts_of_one_by_one_checks_wherever_its_bad_tickets_sit() {
        let issuer = Issuer::derive(3);
        let v = issuer.verifier();
        let mut texts = Vec::new();
        for i in 0..40 {
            let id = Ticket(format!("t{i}"));
            texts.push(match i % 13 {
                3 => issuer.credential(&id, Kind::Tampered).encode(),
                7 => issuer.credential(&id, Kind::Forged).encode(),
                9 => issuer.sign(&id, FARE, 10).encode(), // expired at 11
                11 => format!("t{i}|garbage"),
                _ => issuer.credential(&id, Kind::Genuine).encode(),
            });
        }
        // Every prefix and a few windows: batches of 1..40 with the bad ones anywhere.
        for (a, b) in [
            (0, 40),
            (0, 1),
            (0, 2),
            (3, 4),
            (2, 5),
            (0, 17),
            (5, 40),
            (13, 29),
        ] {
            let batch: Vec<&str> = texts[a..b].iter().map(String::as_str).collect();
            let one_by_one: Vec<_> = batch.iter().map(|t| v.check(t, 11)).collect();
            assert_eq!(v.check_all(&batch, 11), one_by_one, "tickets {a}..{b}");
        }
        let verdicts = v.check_all(&texts.iter().map(String::as_str).collect::<Vec<_>>(), 11);
        let count = |r: Option<Rejection>| {
            verdicts
                .iter()
                .filter(|v| v.as_ref().err().map(|e| e.1) == r)
                .count()
        };
        assert_eq!(count(None), 28);
        assert_eq!(count(Some(Rejection::Tampered)), 3 + 3);
        assert_eq!(count(Some(Rejection::Forged)), 3);
        assert_eq!(count(Some(Rejection::Expired)), 3);
        // All genuine: one batch, all accepted.
        let good: Vec<String> = (0..16)
            .map(|i| {
                issuer
                    .credential(&Ticket(format!("g{i}")), Kind::Genuine)
                    .encode()
            })
            .collect();
        let good: Vec<&str> = good.iter().map(String::as_str).collect();
        assert!(v.check_all(&good, 0).iter().all(Result::is_ok));
        assert!(v.check_all(&[], 0).is_empty());
    }

    #[test]
    fn the_encoding_round_trips_and_ids_may_contain_the_separator() {
        let issuer = Issuer::derive(1);
        let t = issuer.sign(&Ticket::from("a|b"), 3, 4);
        assert_eq!(SignedTicket::decode(&t.encode()), Some(t.clone()));
        assert_eq!(
            issuer.verifier().check(&t.encode(), 0),
            Ok(Ticket::from("a|b"))
        );
        assert_eq!(
            t,
            Issuer::derive(1).sign(&Ticket::from("a|b"), 3, 4),
            "deterministic"
        );
    }

    #[test]
    fn the_bad_fraction_is_drawn_per_ticket_from_the_seed() {
        let issuer = Issuer::derive(3);
        let kinds: Vec<Kind> = (1..=1000)
            .map(|i| issuer.kind(&Ticket(format!("t{i}")), 0.2, 0.25))
            .collect();
        let forged = kinds.iter().filter(|k| **k == Kind::Forged).count();
        let tampered = kinds.iter().filter(|k| **k == Kind::Tampered).count();
        assert!((150..250).contains(&forged), "{forged}");
        assert!((150..250).contains(&tampered), "{tampered}");
        let again: Vec<Kind> = (1..=1000)
            .map(|i| Issuer::derive(3).kind(&Ticket(format!("t{i}")), 0.2, 0.25))
            .collect();
        assert_eq!(kinds, again);
        assert!((1..=100).all(|i| issuer.kind(&Ticket(format!("t{i}")), 0.0, 0.0) == Kind::Genuine));
    }
}
