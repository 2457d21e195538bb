//! The ingester against a Jetstream stand-in that misbehaves in every way
//! a connection can: garbage, oversized and non-UTF-8 frames, a cut and a
//! stall mid-frame, a silent open connection, a replay from an older
//! cursor than asked for. Each bad message is counted and skipped, each
//! broken connection replaced from the stored cursor, and the store ends
//! with exactly the likes of the stream.

mod common;

use std::time::Duration;

use common::*;
use feedmixer_ingest::{IngestConfig, MAX_MESSAGE_BYTES};
use feedmixer_store::{RepoEvent, Store};

/// `events[from..until]`, `from` being the first event at or after
/// `cursor` (0 without one).
fn range(events: &[RepoEvent], cursor: Option<u64>, until: usize) -> Vec<Step> {
    let from = cursor.map_or(0, |c| events.partition_point(|e| e.time_us() < c));
    events[from.min(until)..until].iter().map(send).collect()
}

#[tokio::test]
async fn every_kind_of_fault_is_skipped_or_survived_and_the_store_ends_exact() {
    let events = creates(50);
    let script_events = events.clone();
    let script = move |index: usize, cursor: Option<u64>| -> Vec<Step> {
        let events = &script_events;
        let json = |i: usize| events[i].to_jetstream_json();
        let mut steps = Vec::new();
        match index {
            // Garbage that leaves the connection up, then a cut
            // mid-frame.
            0 => {
                steps.extend(range(events, None, 10));
                steps.push(Step::Send("not json at all".into()));
                steps.push(Step::Binary(vec![0x00, 0x9f, 0x92, 0x96]));
                // Big, within the socket limit, and no event.
                steps.push(Step::Send("x".repeat(1 << 20)));
                steps.extend(events[10..15].iter().map(send));
                steps.push(Step::CutMidFrame(json(15)));
            }
            // A text frame that is not UTF-8: unreadable, so the
            // connection goes with it.
            1 => {
                steps.extend(range(events, cursor, 25));
                steps.push(Step::RawText(b"{\"did\":\"\xff\xfe\"}".to_vec()));
            }
            // A frame over the socket limit, refused at its header.
            2 => {
                steps.extend(range(events, cursor, 35));
                steps.push(Step::Oversized(MAX_MESSAGE_BYTES as u64 + 1));
            }
            // A replay from well before the cursor asked for, then a
            // stall mid-frame.
            3 => {
                steps.extend(range(events, None, 45));
                steps.push(Step::StallMidFrame(json(45)));
            }
            // A silent, open connection.
            4 => {
                steps.extend(range(events, cursor, 48));
                steps.push(Step::Stall);
            }
            _ => steps.extend(range(events, cursor, events.len())),
        }
        steps
    };
    let server = FakeJetstream::start(script).await;
    let (_dir, store) = open_store();
    let mut ingester = Running::start(
        IngestConfig {
            idle_timeout: Duration::from_millis(300),
            ..config(&server.url)
        },
        store.clone(),
    );

    let last = events.last().unwrap().time_us();
    let status = ingester.wait_cursor(last).await;
    let t = |i: usize| events[i].time_us();
    let cursors: Vec<Option<u64>> = (0..server.requests().len())
        .map(|i| server.cursor(i))
        .collect();
    // Each connection resumed from the last event the one before it
    // delivered whole, less the margin.
    assert_eq!(
        cursors,
        [
            None,
            Some(t(14) - MARGIN_US),
            Some(t(24) - MARGIN_US),
            Some(t(34) - MARGIN_US),
            Some(t(44) - MARGIN_US),
            Some(t(47) - MARGIN_US),
        ]
    );
    assert_eq!(status.connections, 6);
    // Not JSON, binary, the 1 MiB line, not UTF-8, oversized; the half
    // frames never arrived, so they are no message.
    assert_eq!(status.invalid, 5);
    let resent: u64 = cursors
        .iter()
        .enumerate()
        .map(|(i, &cursor)| {
            let until = [15, 25, 35, 45, 48, 50][i];
            let cursor = if i == 3 { None } else { cursor };
            range(&events, cursor, until).len() as u64
        })
        .sum::<u64>()
        - 50;
    assert!(resent > 0, "the replays overlapped");
    assert_eq!(status.applied.created, 50);
    assert_eq!(status.applied.duplicates, resent);
    assert_eq!(status.events_applied, 50 + resent);
    assert_eq!(status.bot, 0, "a replay is not a flood");
    assert_eq!(likes(store.as_ref()).await, expected(&events));
    assert_eq!(store.counts().await.unwrap().likes, 50);
    assert_eq!(stored_cursor(store.as_ref()).await, Some(last));
    ingester.stop().await.unwrap();
}
