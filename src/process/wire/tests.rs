//! The wire format's tests: round trips, bounds, and the decoder fuzz (`make fuzz`).

use super::*;
use crate::protocol::{AppMsg, Body, Msg, MsgId};

fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: T) {
    let mut buf = BytesMut::new();
    encode_frame(&v, &mut buf).unwrap();
    let mut codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec();
    let frame = codec.decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    let back: T = options().deserialize(&frame).unwrap();
    assert_eq!(back, v);
}

#[tokio::test]
async fn event_frames_are_told_apart_by_their_first_byte_and_read_in_batches() {
    let event = FromServer::Event(WireEvent::Decide {
        t_us: 5,
        ticket: "t1".into(),
        outcome: Outcome::Accept,
        phase: Some(1),
        why: None,
    });
    let others = [
        FromServer::Ready,
        FromServer::Bye,
        FromServer::Applied,
        FromServer::Halted { t_us: 2 },
        FromServer::Probe {
            round: 1,
            sent: vec![0, 1],
            received: vec![2, 3],
        },
    ];
    let mut buf = BytesMut::new();
    encode_frame(&event, &mut buf).unwrap();
    for o in &others {
        encode_frame(o, &mut buf).unwrap();
    }
    encode_frame(&event, &mut buf).unwrap();
    let bytes = buf.freeze();
    let mut rd = FrameReader::new(&bytes[..]);
    let mut frames = Vec::new();
    assert!(rd.next_frames(&mut frames).await.unwrap());
    assert_eq!(frames.len(), others.len() + 2, "one read, every frame");
    let tags: Vec<bool> = frames.iter().map(|f| is_event_body(f)).collect();
    assert!(tags[0] && tags[others.len() + 1]);
    assert!(tags[1..=others.len()].iter().all(|t| !t));
    assert_eq!(decode_body::<FromServer>(&frames[0]).unwrap(), event);
    assert_eq!(decode_body::<FromServer>(&frames[1]).unwrap(), others[0]);
    frames.clear();
    assert!(!rd.next_frames(&mut frames).await.unwrap(), "clean end");
}

#[test]
fn frames_roundtrip() {
    roundtrip(Msg::Heartbeat);
    roundtrip(Msg::Propose {
        k: 3,
        r: 1,
        value: vec![AppMsg {
            id: MsgId { origin: 2, seq: 7 },
            body: Body::Phase2 {
                ticket: "t9".into(),
                replies: vec![1, 2],
            },
        }],
    });
    roundtrip(FromServer::Event(WireEvent::Send {
        t_us: 12,
        to: 3,
        msg: Cow::Borrowed("NEWTKT"),
        ticket: Some("t1".into()),
        seq: 4,
    }));
    roundtrip(ToServer::Link(LinkFault::Loss {
        from: vec![1],
        to: vec![2, 3],
        rate: 0.25,
    }));
}

#[test]
fn every_link_fault_crosses_the_wire_and_back() {
    let actions = [
        FaultAction::Delay {
            from: vec![1],
            to: vec![2],
            delay: 7,
        },
        FaultAction::Loss {
            from: vec![1, 2],
            to: vec![3],
            rate: 0.5,
        },
        FaultAction::Block {
            from: vec![3],
            to: vec![1],
        },
        FaultAction::Partition(vec![vec![1, 2], vec![3]]),
        FaultAction::Heal,
    ];
    for a in actions {
        assert_eq!(LinkFault::of(&a).expect("a link fault").action(), a);
    }
    assert_eq!(LinkFault::of(&FaultAction::Crash(vec![1])), None);
    assert_eq!(LinkFault::of(&FaultAction::Pause(vec![1])), None);
}

#[test]
fn a_heartbeat_frame_is_small() {
    let mut buf = BytesMut::new();
    encode_frame(&Msg::Heartbeat, &mut buf).unwrap();
    assert_eq!(buf.len(), 5);
}

#[test]
fn a_peer_frame_encoded_from_a_borrowed_message_decodes_as_owned() {
    let msg = Msg::NewTkt {
        ticket: "t1".into(),
    };
    let mut buf = BytesMut::new();
    let release_ns = 12_345_678_901;
    encode_frame(
        &PeerFrame {
            release_ns,
            seq: 9,
            msg: &msg,
        },
        &mut buf,
    )
    .unwrap();
    let mut codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec();
    let frame = codec.decode(&mut buf).unwrap().unwrap();
    let back: PeerFrame = options().deserialize(&frame).unwrap();
    assert_eq!(
        back,
        PeerFrame {
            release_ns,
            seq: 9,
            msg
        }
    );
}

#[tokio::test]
async fn try_fill_takes_in_what_is_there_and_sees_the_end_of_stream_without_waiting() {
    use std::time::{Duration, Instant};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let (rd, _wr) = server.into_split();
    let mut r = FrameReader::new(rd);
    assert!(r.try_fill().unwrap(), "open, nothing to read");
    let mut buf = BytesMut::new();
    let frame = PeerFrame {
        release_ns: 7,
        seq: 0,
        msg: Msg::Heartbeat,
    };
    encode_frame(&frame, &mut buf).unwrap();
    client.write_all(&buf).await.unwrap();
    drop(client);
    let until = Instant::now() + Duration::from_secs(5);
    while r.try_fill().unwrap() {
        assert!(Instant::now() < until, "no end of stream seen");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // What arrived before the end is still there to decode.
    assert_eq!(r.next::<PeerFrame>().await.unwrap(), Some(frame));
    assert_eq!(r.next::<PeerFrame>().await.unwrap(), None);
}

#[tokio::test]
async fn reader_rejects_oversized_and_truncated_frames() {
    let mut big = BytesMut::new();
    big.put_u32((MAX_FRAME + 1) as u32);
    big.put_bytes(0, 16);
    let mut r = FrameReader::new(&big[..]);
    assert!(matches!(r.next::<Msg>().await, Err(WireError::Io(_))));

    let mut buf = BytesMut::new();
    encode_frame(
        &Msg::NewTkt {
            ticket: "t1".into(),
        },
        &mut buf,
    )
    .unwrap();
    let cut = &buf[..buf.len() - 1];
    let mut r = FrameReader::new(cut);
    assert!(matches!(r.next::<Msg>().await, Err(WireError::Truncated)));

    let mut r = FrameReader::new(&buf[..]);
    assert_eq!(
        r.next::<Msg>().await.unwrap(),
        Some(Msg::NewTkt {
            ticket: "t1".into()
        })
    );
    assert_eq!(r.next::<Msg>().await.unwrap(), None);
}

/// The decoder fuzz (`make fuzz` runs it with `TICKETLAB_FUZZ_EXECS=1000000`): arbitrary
/// bytes, framed or not, and valid frames with random bytes flipped, never panic the reader
/// nor make it allocate beyond the frame — every outcome is a value or an error. Each round
/// decodes its bytes as every frame type (one execution each).
#[tokio::test]
async fn garbage_decodes_to_errors_never_panics() {
    use rand::{Rng, SeedableRng};
    let execs: u64 = std::env::var("TICKETLAB_FUZZ_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15_000);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    // Valid frames to mutate: a peer frame of every message type the crate's own test
    // examples give, a hello, a user request, a control frame.
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    let mut buf = BytesMut::new();
    let msgs = [
        Msg::NewTkt {
            ticket: "t1".into(),
        },
        Msg::CAck { k: 3, r: 2 },
        Msg::Heartbeat,
    ];
    for msg in &msgs {
        let frame = PeerFrame {
            release_ns: 12_345,
            seq: 7,
            msg,
        };
        encode_frame(&frame, &mut buf).unwrap();
        seeds.push(buf.split().to_vec());
    }
    encode_frame(&ToServer::Probe { round: 3 }, &mut buf).unwrap();
    seeds.push(buf.split().to_vec());
    let mut done = 0u64;
    let mut round = 0u64;
    while done < execs {
        let bytes: Vec<u8> = if round % 3 == 2 {
            let mut b = seeds[rng.gen_range(0..seeds.len())].clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.gen();
            }
            b
        } else {
            let len = rng.gen_range(0..200usize);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if round.is_multiple_of(3) {
                // A plausible length prefix, so the body reaches bincode.
                let mut framed = (len as u32).to_be_bytes().to_vec();
                framed.append(&mut bytes);
                bytes = framed;
            }
            bytes
        };
        round += 1;
        let _ = FrameReader::new(&bytes[..]).next::<Hello>().await;
        let _ = FrameReader::new(&bytes[..]).next::<PeerFrame>().await;
        let _ = FrameReader::new(&bytes[..]).next::<UserReq>().await;
        let _ = FrameReader::new(&bytes[..]).next::<FromServer>().await;
        let _ = FrameReader::new(&bytes[..]).next::<ToServer>().await;
        done += 5;
    }
    // A panic above fails the test: reaching here means none happened.
    println!("wire decoder fuzz: {done} execs, 0 crashes");
    // A body claiming a string of 2^62 bytes: an error, not an allocation.
    let mut huge = BytesMut::new();
    huge.put_u32(10);
    huge.put_u8(0); // Hello::Peer
    huge.put_u8(2); // from
    huge.put_u8(0xFF); // varint u64 follows
    huge.put_u64_le(1 << 62);
    assert!(FrameReader::new(&huge[..]).next::<Hello>().await.is_err());
}
