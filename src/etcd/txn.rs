//! One submission = one etcd transaction, through etcd's gRPC-JSON gateway (`POST /v3/kv/txn`
//! on the member's client port, HTTP/1.1 keep-alive; keys and values base64):
//!
//! ```text
//! compare  create_revision("ticket/<id>") == 0      (the key was never created)
//! success  put "ticket/<id>" = "<tag>"               → accept
//! failure  range "ticket/<id>"                       → reject (the holder's tag, for `why`)
//! ```
//!
//! `<tag>` names this submission (`s<i>#<k>`), so a retry after a lost answer stays exactly-once:
//! if the key's holder is this very tag, the first attempt committed and the answer is accept.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::time::Duration;

/// Attempts per submission (transport errors and etcd error answers are retried).
const ATTEMPTS: u32 = 6;
/// One request's timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What etcd answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// The key was created by this submission, at this revision.
    Accepted { revision: i64 },
    /// The key already existed: created at `revision` by the submission `holder`.
    Rejected { holder: String, revision: i64 },
}

/// The members' client endpoints and one pooled HTTP client.
#[derive(Clone)]
pub(super) struct Store {
    client: Client<HttpConnector, Full<Bytes>>,
    ports: Vec<u16>,
}

impl Store {
    pub(super) fn new(ports: Vec<u16>) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(http);
        Store { client, ports }
    }

    fn uri(&self, server: u16, path: &str) -> Uri {
        let port = self.ports[usize::from(server) - 1];
        format!("http://127.0.0.1:{port}{path}")
            .parse()
            .expect("a valid loopback URI")
    }

    async fn post(
        &self,
        server: u16,
        path: &str,
        body: String,
    ) -> Result<(StatusCode, Bytes), String> {
        let req = Request::post(self.uri(server, path))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let answer = async {
            let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, answer)
            .await
            .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
    }

    /// Whether member `server` is healthy (it has a leader and answers).
    pub(super) async fn healthy(&self, server: u16) -> bool {
        let req = Request::get(self.uri(server, "/health"))
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        let Ok(Ok(resp)) =
            tokio::time::timeout(Duration::from_secs(1), self.client.request(req)).await
        else {
            return false;
        };
        if resp.status() != StatusCode::OK {
            return false;
        }
        match resp.into_body().collect().await {
            Ok(b) => String::from_utf8_lossy(&b.to_bytes()).contains("true"),
            Err(_) => false,
        }
    }

    /// Validate `ticket` at member `server` as the submission `tag`: one transaction, retried
    /// (idempotently, see the module doc) on errors. `Err` after the last attempt; the number of
    /// attempts made either way.
    pub(super) async fn validate(
        &self,
        server: u16,
        ticket: &str,
        tag: &str,
    ) -> (Result<Answer, String>, u32) {
        let body = txn_body(ticket, tag);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_millis(10 << (attempt - 2))).await;
            }
            match self.post(server, "/v3/kv/txn", body.clone()).await {
                Ok((StatusCode::OK, bytes)) => match parse_answer(&bytes, tag) {
                    Ok(a) => return (Ok(a), attempt),
                    Err(e) => last = e,
                },
                Ok((status, bytes)) => {
                    last = format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes))
                }
                Err(e) => last = e,
            }
        }
        (Err(last), ATTEMPTS)
    }
}

/// The key of a ticket.
fn key(ticket: &str) -> String {
    B64.encode(format!("ticket/{ticket}"))
}

/// The transaction's JSON (field names as etcd's gateway reads them: the proto names).
pub(super) fn txn_body(ticket: &str, tag: &str) -> String {
    let k = key(ticket);
    json!({
        "compare": [{
            "key": k,
            "target": "CREATE",
            "result": "EQUAL",
            "create_revision": "0",
        }],
        "success": [{ "request_put": { "key": k, "value": B64.encode(tag) } }],
        "failure": [{ "request_range": { "key": k } }],
    })
    .to_string()
}

/// An int64 of the gateway's JSON: a string of digits (or a number).
fn int(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
}

/// The answer in a `/v3/kv/txn` response body. `succeeded` is left out when false (proto3 JSON
/// omits defaults).
pub(super) fn parse_answer(body: &[u8], tag: &str) -> Result<Answer, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let header = v.get("header").ok_or_else(|| format!("no header in {v}"))?;
    if v.get("succeeded").and_then(Value::as_bool).unwrap_or(false) {
        let revision = header.get("revision").and_then(int).unwrap_or(0);
        return Ok(Answer::Accepted { revision });
    }
    let kv = v
        .pointer("/responses/0/response_range/kvs/0")
        .ok_or_else(|| format!("a failed compare without the key's value: {v}"))?;
    let value = kv.get("value").and_then(Value::as_str).unwrap_or("");
    let holder = B64
        .decode(value)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| format!("the key's value is not base64 text: {value:?}"))?;
    let revision = kv.get("create_revision").and_then(int).unwrap_or(0);
    if holder == tag {
        // Our own earlier attempt created it (its answer was lost): this submission's accept.
        return Ok(Answer::Accepted { revision });
    }
    Ok(Answer::Rejected { holder, revision })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transaction_compares_create_revision_and_puts_the_tag() {
        let v: Value = serde_json::from_str(&txn_body("t7", "s2#5")).unwrap();
        let k = B64.encode("ticket/t7");
        assert_eq!(v["compare"][0]["key"], k.as_str());
        assert_eq!(v["compare"][0]["target"], "CREATE");
        assert_eq!(v["compare"][0]["create_revision"], "0");
        assert_eq!(v["success"][0]["request_put"]["value"], B64.encode("s2#5"));
        assert_eq!(v["failure"][0]["request_range"]["key"], k.as_str());
    }

    #[test]
    fn answers_accept_reject_and_a_retry_of_our_own_commit() {
        let ok =
            br#"{"header":{"revision":"12"},"succeeded":true,"responses":[{"response_put":{}}]}"#;
        assert_eq!(
            parse_answer(ok, "s1#1"),
            Ok(Answer::Accepted { revision: 12 })
        );
        let taken = format!(
            r#"{{"header":{{"revision":"13"}},"responses":[{{"response_range":{{"kvs":[{{"key":"x","create_revision":"9","value":"{}"}}],"count":"1"}}}}]}}"#,
            B64.encode("s3#4")
        );
        assert_eq!(
            parse_answer(taken.as_bytes(), "s1#1"),
            Ok(Answer::Rejected {
                holder: "s3#4".into(),
                revision: 9
            })
        );
        assert_eq!(
            parse_answer(taken.as_bytes(), "s3#4"),
            Ok(Answer::Accepted { revision: 9 })
        );
        assert!(parse_answer(
            br#"{"error":"etcdserver: request timed out","code":14}"#,
            "a"
        )
        .is_err());
        assert!(parse_answer(b"<html>", "a").is_err());
    }
}
