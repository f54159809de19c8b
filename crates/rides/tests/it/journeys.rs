//! Taps to journeys to fares: paired by distance, uploads idempotent, fares from the wallet,
//! debts on the blacklist until paid, lone taps settled at the maximum and repriced.

use cashless_testkit::{TestDb, assert_books_balance, both_backends};
use cashless_transit::{Decision, Direction};

use crate::{BUS, Harness, METRO, load, now_secs, ns};

async fn a_paired_journey_is_priced_by_distance_and_charged_once(db: TestDb) {
    let harness = Harness::new(db).await;
    let rider = harness.rider("王芳", Some("20.00")).await;
    let metro = harness.pass(&rider, METRO).await;
    let mut entry = harness
        .gate(METRO, "IN-XIANGHU", "1", "xianghu", Direction::Entry)
        .await;
    let mut exit = harness
        .gate(METRO, "OUT-WULIN", "1", "wulin-square", Direction::Exit)
        .await;
    let now = now_secs();
    let code_in = metro.ride_code(&rider.device, now).to_text();
    let tap_in = entry.open(&code_in, now);
    let tap_out = exit.open(&metro.ride_code(&rider.device, now + 5).to_text(), now + 5);

    // The exit uploads first: nothing to price until its entry arrives.
    let result = harness.send(&mut exit, &[&tap_out]).await.unwrap();
    assert_eq!((result.accepted, result.journeys_priced), (1, 0));
    assert_eq!(harness.balance(&rider).await, 2_000);
    let entry_batch = entry.batch(&[&tap_in]);
    let first = harness
        .upload("IN-XIANGHU", &entry.key, &entry_batch)
        .await
        .unwrap();
    assert_eq!((first.accepted, first.journeys_priced), (1, 1));
    // Xianghu → Wulin Square is 15.8 km on line 1: the 18 km band, 5 CNY.
    assert_eq!(harness.balance(&rider).await, 1_500);
    let journeys = harness.journeys(&rider).await;
    assert_eq!(journeys.journeys.len(), 1);
    let journey = &journeys.journeys[0];
    assert_eq!(
        (journey.kind.as_str(), journey.distance_m),
        ("paired", Some(15_800))
    );
    assert_eq!(
        (journey.fare.amount.as_str(), journey.status.as_str()),
        ("5.00", "paid")
    );
    assert_eq!(journeys.owed.amount, "0.00");
    let payable = harness.payable(METRO).await;
    assert_eq!(payable.credits_posted, 500);
    let lines = harness.transit_lines(&rider).await;
    let line = &lines[0];
    assert_eq!(
        (line.amount.amount.as_str(), line.status.as_str()),
        ("-5.00", "succeeded")
    );
    assert_eq!(line.counterparty, "Hangzhou Metro");

    // The same batch again answers the same and charges nothing.
    let again = harness
        .upload("IN-XIANGHU", &entry.key, &entry_batch)
        .await
        .unwrap();
    assert_eq!(again, first);
    let mut changed = entry_batch.clone();
    changed.taps.clear();
    let mismatch = harness
        .upload("IN-XIANGHU", &entry.key, &changed)
        .await
        .unwrap_err();
    assert_eq!(mismatch.code, "batch_mismatch");
    let forged = harness
        .upload("IN-XIANGHU", &exit.key, &entry.batch(&[]))
        .await
        .unwrap_err();
    assert_eq!(forged.code, "gate_signature_invalid");
    // The same tap in a later batch of the gate is a re-upload, not a second ride.
    let later = harness.send(&mut entry, &[&tap_in]).await.unwrap();
    assert_eq!(
        (
            later.accepted,
            later.already_uploaded,
            later.journeys_priced
        ),
        (0, 1, 0)
    );
    // The entry code shown at a second gate: kept, flagged, never charged.
    let mut other = harness
        .gate(METRO, "IN-BINKANG", "1", "binkang-road", Direction::Entry)
        .await;
    let copied = other.open(&code_in, now + 2);
    let reused = harness.send(&mut other, &[&copied]).await.unwrap();
    assert_eq!((reused.reused, reused.accepted), (1, 0));
    let flags = harness.rides.transit_flags(METRO).await.unwrap();
    assert_eq!(flags.len(), 1);
    assert_eq!(
        (flags[0].gate_id.as_str(), flags[0].first_gate_id.as_str()),
        ("IN-BINKANG", "IN-XIANGHU")
    );

    assert_eq!(harness.balance(&rider).await, 1_500);
    assert_eq!(harness.journeys_of(&rider).await, 1);
    assert_eq!(harness.rows("transit_taps").await, 3);
    assert_books_balance(&harness.store).await;
}

async fn a_rider_who_cannot_pay_owes_and_is_blacklisted_until_paid(db: TestDb) {
    let harness = Harness::new(db).await;
    let rider = harness.rider("赵磊", None).await;
    let metro = harness.pass(&rider, METRO).await;
    let mut entry = harness
        .gate(METRO, "IN-CITY", "1", "city-station", Direction::Entry)
        .await;
    let mut exit = harness
        .gate(METRO, "OUT-WULINMEN", "2", "wulinmen", Direction::Exit)
        .await;
    let before = harness.rides.gate_config(METRO).await.unwrap();
    let now = now_secs();
    let tap_in = entry.open(&metro.ride_code(&rider.device, now).to_text(), now);
    let tap_out = exit.open(&metro.ride_code(&rider.device, now + 3).to_text(), now + 3);
    harness.send(&mut entry, &[&tap_in]).await.unwrap();
    let priced = harness.send(&mut exit, &[&tap_out]).await.unwrap();
    assert_eq!(priced.journeys_priced, 1);
    // City Station → Fengqi Road (3.0 km, line 1) → Wulinmen (2.3 km, line 2): 5.3 km, 3 CNY.
    let journeys = harness.journeys(&rider).await;
    assert_eq!(journeys.journeys[0].distance_m, Some(5_300));
    assert_eq!(journeys.journeys[0].status, "owed");
    assert_eq!(journeys.owed.amount, "3.00");
    assert_eq!(harness.payable(METRO).await.credits_posted, 0);

    // The gates learn of it with a newer blacklist and refuse the rider.
    let listed = harness.rides.gate_config(METRO).await.unwrap();
    assert!(listed.blacklist_version > before.blacklist_version);
    let account = cashless_kernel::secrets::hex(&metro.body().account_ref);
    assert_eq!(listed.blacklist, [account]);
    load(&mut entry.gate, &listed);
    let code = metro.ride_code(&rider.device, now + 4).to_text();
    assert!(
        matches!(entry.gate.decide(&code, now + 4), Decision::Refuse(r) if r.code() == "blacklisted")
    );
    // Paying with nothing to pay with says what is owed, and changes nothing.
    let error = harness
        .rides
        .pay_transit_debts(&rider.consumer.session)
        .await
        .unwrap_err();
    assert_eq!(error.code, "insufficient_balance");
    assert_eq!(error.details.unwrap()["owed"]["amount"], "3.00");
    assert_eq!(harness.blacklist(METRO).await.len(), 1);

    // Topped up, the rider pays and comes off the list with a newer version.
    harness.kit.top_up(&rider.consumer, "10.00").await;
    let paid = harness
        .rides
        .pay_transit_debts(&rider.consumer.session)
        .await
        .unwrap();
    assert_eq!(
        (paid.owed.amount.as_str(), paid.journeys[0].status.as_str()),
        ("0.00", "paid")
    );
    assert_eq!(harness.balance(&rider).await, 700);
    let cleared = harness.rides.gate_config(METRO).await.unwrap();
    assert!(cleared.blacklist.is_empty());
    assert!(cleared.blacklist_version > listed.blacklist_version);
    load(&mut entry.gate, &cleared);
    entry.open(&metro.ride_code(&rider.device, now + 6).to_text(), now + 6);
    let payable = harness.payable(METRO).await;
    assert_eq!(payable.credits_posted, 300);
    let lines = harness.transit_lines(&rider).await;
    assert_eq!(lines[0].status, "succeeded");
    assert_books_balance(&harness.store).await;
}

async fn the_settler_collects_a_debt_once_the_balance_allows(db: TestDb) {
    let harness = Harness::new(db).await;
    let rider = harness.rider("陈晨", None).await;
    let bus = harness.pass(&rider, BUS).await;
    let mut reader = harness
        .gate(BUS, "BUS-7-V0815", "7", "V0815", Direction::Entry)
        .await;
    let now = now_secs();
    // A bus boarding pays its line's flat fare at once, but there is nothing to pay with.
    let board = reader.open(&bus.ride_code(&rider.device, now).to_text(), now);
    let boarded = harness.send(&mut reader, &[&board]).await.unwrap();
    assert_eq!(boarded.journeys_priced, 1);
    let owed = harness.journeys(&rider).await.owed;
    assert_eq!(owed.amount, "2.00");
    assert_eq!(
        harness.rides.settle_transit(ns(now)).await.unwrap(),
        0,
        "still nothing to pay with"
    );
    assert_eq!(harness.blacklist(BUS).await.len(), 1);
    // Once the balance allows, the settler debits the fare and lifts the blacklist.
    harness.kit.top_up(&rider.consumer, "20.00").await;
    assert_eq!(harness.rides.settle_transit(ns(now)).await.unwrap(), 1);
    assert_eq!(harness.balance(&rider).await, 1_800);
    assert!(harness.blacklist(BUS).await.is_empty());
    assert_eq!(
        harness.rides.settle_transit(ns(now)).await.unwrap(),
        0,
        "collected once"
    );
    assert_books_balance(&harness.store).await;
}

async fn a_lone_entry_pays_the_maximum_until_its_exit_arrives(db: TestDb) {
    let harness = Harness::new(db).await;
    let rider = harness.rider("刘洋", Some("18.00")).await;
    let metro = harness.pass(&rider, METRO).await;
    let now = now_secs();
    // A metro entry without its exit waits the longest journey and the grace (6 h), then
    // pays the maximum fare, 8 CNY.
    let mut entry = harness
        .gate(METRO, "IN-XIANGHU", "1", "xianghu", Direction::Entry)
        .await;
    let lone = entry.open(&metro.ride_code(&rider.device, now + 8).to_text(), now + 8);
    harness.send(&mut entry, &[&lone]).await.unwrap();
    assert_eq!(harness.rides.settle_transit(ns(now + 60)).await.unwrap(), 0);
    let later = ns(now + 8 + 6 * 3600 + 1);
    assert_eq!(harness.rides.settle_transit(later).await.unwrap(), 1);
    assert_eq!(harness.balance(&rider).await, 1_000);
    let journeys = harness.journeys(&rider).await;
    assert_eq!(
        (
            journeys.journeys[0].kind.as_str(),
            journeys.journeys[0].fare.amount.as_str()
        ),
        ("unpaired_entry", "8.00")
    );
    // Its exit arriving later still reprices it (Xianghu → Xixing, 3.3 km: 2 CNY) and gives
    // back the difference, on the statement.
    let mut xixing = harness
        .gate(METRO, "OUT-XIXING", "1", "xixing", Direction::Exit)
        .await;
    let late_exit = xixing.open(&metro.ride_code(&rider.device, now + 9).to_text(), now + 9);
    let repriced = harness.send(&mut xixing, &[&late_exit]).await.unwrap();
    assert_eq!(repriced.journeys_priced, 1);
    assert_eq!(harness.balance(&rider).await, 1_600);
    let lines = harness.transit_lines(&rider).await;
    assert!(
        lines
            .iter()
            .any(|item| item.kind == "transit_refund" && item.amount.amount == "6.00")
    );
    assert_eq!(harness.rides.settle_transit(later).await.unwrap(), 0);
    assert_eq!(harness.balance(&rider).await, 1_600);
    let payable = harness.payable(METRO).await;
    assert_eq!(payable.credit_balance_posted(), 200);
    assert_books_balance(&harness.store).await;
}

both_backends!(
    a_paired_journey_is_priced_by_distance_and_charged_once,
    a_rider_who_cannot_pay_owes_and_is_blacklisted_until_paid,
    the_settler_collects_a_debt_once_the_balance_allows,
    a_lone_entry_pays_the_maximum_until_its_exit_arrives,
);
