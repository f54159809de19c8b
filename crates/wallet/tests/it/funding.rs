//! Money between a card and the wallet: top-ups and withdrawals idempotent by key, never
//! below zero, within the KYC limits, each a line of the statement.

use std::time::Duration;

use cashless_kernel::wire;
use cashless_ledger::Currency;
use cashless_testkit::wallet::{PIN, bank_config, wallet_config};
use cashless_testkit::{TestDb, assert_books_balance, both_backends};
use cashless_wallet::funding::{TopUpRequest, WithdrawalRequest};
use cashless_wallet::ids::{CardId, FundingId};
use cashless_wallet::platform;

use crate::{Harness, code, refused};

/// A top-up request as the HTTP edge hands it to the wallet: its card id and amount parsed.
fn top_up(card_id: &str, amount: &str) -> TopUpRequest {
    TopUpRequest {
        card_id: CardId::parse(card_id).unwrap(),
        amount: wire::money(amount, Currency::CNY).unwrap(),
    }
}

fn withdrawal(card_id: &str, amount: &str, pin: &str) -> WithdrawalRequest {
    WithdrawalRequest {
        card_id: CardId::parse(card_id).unwrap(),
        amount: wire::money(amount, Currency::CNY).unwrap(),
        pin: pin.to_owned(),
    }
}

async fn a_top_up_is_one_movement_per_idempotency_key(db: TestDb) {
    let harness = Harness::new(db).await;
    let wallet = harness.wallet();
    let mut consumer = harness.kit.verified("李娜").await;
    let card_id = harness.kit.link_card(&mut consumer, "李娜").await;
    let session = &consumer.session;
    let missing_key = wallet
        .top_up(session, None, top_up(&card_id, "100.00"))
        .await;
    assert_eq!(code(missing_key), "idempotency_key_required");
    // A bad amount never reaches the wallet: it is refused where requests are parsed.
    for amount in ["0", "-5", "1.234"] {
        let bad = wire::money(amount, Currency::CNY).unwrap_err();
        assert_eq!(bad.code, "amount_invalid", "{amount}");
    }

    let first = wallet
        .top_up(session, Some("k-1"), top_up(&card_id, "100.00"))
        .await
        .unwrap();
    assert_eq!(first.status, "succeeded", "{first:?}");
    let again = wallet
        .top_up(session, Some("k-1"), top_up(&card_id, "100.00"))
        .await
        .unwrap();
    assert_eq!(
        (again.id.as_str(), again.status.as_str()),
        (first.id.as_str(), "succeeded")
    );
    let other_amount = wallet
        .top_up(session, Some("k-1"), top_up(&card_id, "200.00"))
        .await;
    assert_eq!(code(other_amount), "idempotency_key_reused");

    // One movement: one row, one statement line, 100.00 in the ledger once.
    assert_eq!(harness.rows_of("funding", &session.user_id).await, 1);
    let balances = harness.user_balances(&session.user_id).await;
    assert_eq!(
        (balances.credits_posted, balances.credits_pending),
        (10_000, 0)
    );
    let clearing = harness
        .balances(platform::bank_clearing(Currency::CNY))
        .await;
    assert_eq!(
        (clearing.debits_posted, clearing.debits_pending),
        (10_000, 0)
    );
    let statement = wallet.statement(session, None, None, None).await.unwrap();
    assert_eq!(statement.items.len(), 1);
    let line = &statement.items[0];
    assert_eq!(
        (line.id.as_str(), line.kind.as_str()),
        (first.id.as_str(), "top_up")
    );
    assert_eq!(
        (line.amount.amount.as_str(), line.status.as_str()),
        ("100.00", "succeeded")
    );

    // Someone else's card is no card at all.
    let stranger = harness.kit.verified("张伟").await;
    let theirs = wallet
        .top_up(&stranger.session, Some("k-1"), top_up(&card_id, "1.00"))
        .await;
    assert_eq!(code(theirs), "card_not_found");
    assert_eq!(
        code(
            wallet
                .funding(&stranger.session, &FundingId::parse(&first.id).unwrap())
                .await
        ),
        "funding_not_found"
    );
    assert_books_balance(&harness.store).await;
}

async fn a_withdrawal_never_takes_the_balance_below_zero(db: TestDb) {
    let harness = Harness::new(db).await;
    let wallet = harness.wallet();
    let consumer = harness.kit.payer("王芳", "100.00").await;
    let (session, card_id) = (&consumer.session, consumer.card_id.clone().unwrap());
    let wrong_pin = wallet
        .withdraw(
            session,
            Some("w-0"),
            withdrawal(&card_id, "30.00", "147036"),
        )
        .await;
    assert_eq!(code(wrong_pin), "pin_incorrect");
    let error = refused(
        wallet
            .withdraw(session, Some("w-big"), withdrawal(&card_id, "100.01", PIN))
            .await,
    );
    assert_eq!(error.code, "insufficient_balance");
    assert_eq!(error.details.unwrap()["available"]["amount"], "100.00");

    let first = wallet
        .withdraw(session, Some("w-1"), withdrawal(&card_id, "30.00", PIN))
        .await
        .unwrap();
    assert_eq!(first.status, "succeeded", "{first:?}");
    let again = wallet
        .withdraw(session, Some("w-1"), withdrawal(&card_id, "30.00", PIN))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    let reused = wallet
        .withdraw(session, Some("w-1"), withdrawal(&card_id, "40.00", PIN))
        .await;
    assert_eq!(code(reused), "idempotency_key_reused");
    assert_eq!(harness.kit.available(&consumer).await, 7_000);

    let rest = wallet
        .withdraw(session, Some("w-2"), withdrawal(&card_id, "70.00", PIN))
        .await
        .unwrap();
    assert_eq!(rest.status, "succeeded");
    let empty = wallet
        .withdraw(session, Some("w-3"), withdrawal(&card_id, "0.01", PIN))
        .await;
    assert_eq!(code(empty), "insufficient_balance");

    let balances = harness.user_balances(&session.user_id).await;
    assert_eq!(
        (balances.credits_posted, balances.debits_posted),
        (10_000, 10_000)
    );
    assert_eq!((balances.credits_pending, balances.debits_pending), (0, 0));
    // Three movements, three lines, newest first; refused withdrawals count nothing.
    assert_eq!(harness.rows_of("funding", &session.user_id).await, 3);
    let statement = wallet.statement(session, None, None, None).await.unwrap();
    let lines: Vec<(&str, &str)> = statement
        .items
        .iter()
        .map(|item| (item.kind.as_str(), item.amount.amount.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("withdrawal", "-70.00"),
            ("withdrawal", "-30.00"),
            ("top_up", "100.00")
        ]
    );
    assert_eq!(statement.limits.spent_today.amount, "100.00");
    let withdrawals = wallet
        .statement(session, None, None, Some("withdrawal"))
        .await
        .unwrap();
    assert_eq!(withdrawals.items.len(), 2);
    assert_books_balance(&harness.store).await;
}

async fn a_top_up_the_bank_refuses_is_voided(db: TestDb) {
    let bank = cashless_partners::SimulatedBankConfig {
        card_balance_minor: 5_000,
        ..bank_config(Duration::ZERO)
    };
    let harness = Harness::with(db, wallet_config(), bank).await;
    let wallet = harness.wallet();
    let mut consumer = harness.kit.verified("陈晨").await;
    let card_id = harness.kit.link_card(&mut consumer, "陈晨").await;
    let session = &consumer.session;
    let failed = wallet
        .top_up(session, Some("k-1"), top_up(&card_id, "60.00"))
        .await
        .unwrap();
    assert_eq!(failed.status, "failed", "{failed:?}");
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("insufficient funds on the card")
    );
    let balances = harness.user_balances(&session.user_id).await;
    assert_eq!((balances.credits_posted, balances.credits_pending), (0, 0));
    let statement = wallet.statement(session, None, None, None).await.unwrap();
    assert_eq!(statement.items[0].status, "failed");

    // What the card holds goes through.
    let paid = wallet
        .top_up(session, Some("k-2"), top_up(&card_id, "50.00"))
        .await
        .unwrap();
    assert_eq!(paid.status, "succeeded");
    assert_eq!(harness.kit.available(&consumer).await, 5_000);
    assert_books_balance(&harness.store).await;
}

async fn a_top_up_in_flight_is_incoming_not_spendable(db: TestDb) {
    let bank = bank_config(Duration::from_secs(3600));
    let harness = Harness::with(db, wallet_config(), bank).await;
    let wallet = harness.wallet();
    let mut consumer = harness.kit.verified("刘洋").await;
    let card_id = harness.kit.link_card(&mut consumer, "刘洋").await;
    let session = &consumer.session;
    wallet.set_pin(session, PIN).await.unwrap();
    let pending = wallet
        .top_up(session, Some("k-1"), top_up(&card_id, "100.00"))
        .await
        .unwrap();
    assert_eq!(pending.status, "processing");
    let balance = wallet.profile(session).await.unwrap().balance;
    assert_eq!(
        (
            balance.available.amount.as_str(),
            balance.incoming.amount.as_str()
        ),
        ("0.00", "100.00")
    );
    let spend = wallet
        .withdraw(session, Some("w-1"), withdrawal(&card_id, "1.00", PIN))
        .await;
    assert_eq!(code(spend), "insufficient_balance");
    // The bank is still processing it: the reconciler leaves it be, and the card stays.
    wallet.reconcile_once().await.unwrap();
    assert_eq!(
        wallet
            .funding(session, &FundingId::parse(&pending.id).unwrap())
            .await
            .unwrap()
            .status,
        "processing"
    );
    assert_eq!(
        code(
            wallet
                .remove_card(session, &CardId::parse(&card_id).unwrap())
                .await
        ),
        "card_in_use"
    );
    assert_books_balance(&harness.store).await;
}

async fn withdrawals_stay_within_the_kyc_limits(db: TestDb) {
    let mut config = wallet_config();
    config.limits.l2_single = 10_000;
    config.limits.l2_daily = 15_000;
    let harness = Harness::with(db, config, bank_config(Duration::ZERO)).await;
    let wallet = harness.wallet();
    let consumer = harness.kit.payer("李娜", "500.00").await;
    let (session, card_id) = (&consumer.session, consumer.card_id.clone().unwrap());
    let withdraw = |key: &'static str, amount: &'static str| {
        wallet.withdraw(session, Some(key), withdrawal(&card_id, amount, PIN))
    };
    let error = refused(withdraw("w1", "100.01").await);
    assert_eq!(error.code, "single_limit_exceeded");
    assert_eq!(error.details.unwrap()["limit"]["amount"], "100.00");
    withdraw("w2", "80.00").await.unwrap();
    let error = refused(withdraw("w3", "80.00").await);
    assert_eq!(error.code, "daily_limit_exceeded");
    assert_eq!(error.details.unwrap()["remaining"]["amount"], "70.00");
    withdraw("w4", "70.00").await.unwrap();
    let limits = wallet.profile(session).await.unwrap().limits;
    assert_eq!(
        (
            limits.kyc_level.as_str(),
            limits.remaining_today.amount.as_str()
        ),
        ("L2", "0.00")
    );
    assert_eq!(harness.kit.available(&consumer).await, 35_000);

    // A verified consumer without a card is L1, with L1's limits.
    let l1 = harness.kit.verified("张伟").await;
    let limits = wallet.profile(&l1.session).await.unwrap().limits;
    assert_eq!(
        (limits.kyc_level.as_str(), limits.daily.amount.as_str()),
        ("L1", "5000.00")
    );
    assert_books_balance(&harness.store).await;
}

both_backends!(
    a_top_up_is_one_movement_per_idempotency_key,
    a_withdrawal_never_takes_the_balance_below_zero,
    a_top_up_the_bank_refuses_is_voided,
    a_top_up_in_flight_is_incoming_not_spendable,
    withdrawals_stay_within_the_kyc_limits,
);
