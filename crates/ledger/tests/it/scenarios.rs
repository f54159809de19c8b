//! Worked examples of the ledger's rules, one behaviour each.

use cashless_ledger::{
    Account, AccountFlags, AccountId, AccountKind, CreateAccountResult, CreateTransferResult as R,
    Currency, Ledger, LedgerConfig, NoColdStore, PendingStatus, Transfer, TransferFlags,
    TransferId,
};

const NOW: u64 = 1_700_000_000 * 1_000_000_000;
const SEC: u64 = 1_000_000_000;
const BANK: AccountId = AccountId(1);
const ALICE: AccountId = AccountId(2);
const SHOP: AccountId = AccountId(3);
const DOLLARS: AccountId = AccountId(4);

fn ledger() -> Ledger {
    let mut ledger = Ledger::new(LedgerConfig::default());
    let mut batch = ledger.begin(NOW);
    let results = batch.create_accounts(&[
        Account::new(
            BANK,
            Currency::CNY,
            AccountKind::Clearing,
            AccountFlags::NONE,
        ),
        Account::new(
            ALICE,
            Currency::CNY,
            AccountKind::Wallet,
            AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        ),
        Account::new(
            SHOP,
            Currency::CNY,
            AccountKind::Merchant,
            AccountFlags::NONE,
        ),
        Account::new(
            DOLLARS,
            Currency::USD,
            AccountKind::Wallet,
            AccountFlags::NONE,
        ),
    ]);
    assert!(results.iter().all(|r| *r == CreateAccountResult::Ok));
    batch.commit();
    ledger
}

fn pay(id: u128, debit: AccountId, credit: AccountId, amount: u64) -> Transfer {
    Transfer::new(TransferId(id), debit, credit, amount, Currency::CNY, 1)
}

fn run(ledger: &mut Ledger, now: u64, transfers: &[Transfer]) -> Vec<R> {
    let mut batch = ledger.begin(now);
    let results = batch.create_transfers(transfers, &mut NoColdStore).unwrap();
    batch.commit();
    results
}

fn available(ledger: &Ledger, id: AccountId) -> i128 {
    ledger
        .account(id)
        .unwrap()
        .balances
        .credit_balance_available()
}

#[test]
fn a_wallet_cannot_spend_more_than_it_holds() {
    let mut ledger = ledger();
    assert_eq!(
        run(&mut ledger, NOW, &[pay(10, ALICE, SHOP, 1)]),
        [R::ExceedsCredits]
    );
    assert_eq!(
        run(
            &mut ledger,
            NOW,
            &[pay(11, BANK, ALICE, 500), pay(12, ALICE, SHOP, 300)]
        ),
        [R::Ok, R::Ok]
    );
    assert_eq!(available(&ledger, ALICE), 200);
    assert_eq!(
        run(&mut ledger, NOW, &[pay(13, ALICE, SHOP, 201)]),
        [R::ExceedsCredits]
    );
    assert_eq!(
        run(&mut ledger, NOW, &[pay(14, ALICE, SHOP, 200)]),
        [R::Ok],
        "to the last cent"
    );
    assert_eq!(available(&ledger, ALICE), 0);
}

#[test]
fn resubmitting_is_idempotent_and_failures_are_remembered() {
    let mut ledger = ledger();
    let failed = pay(20, ALICE, SHOP, 100);
    assert_eq!(run(&mut ledger, NOW, &[failed]), [R::ExceedsCredits]);
    run(&mut ledger, NOW, &[pay(21, BANK, ALICE, 1000)]);
    // Alice has the money now, but this id already failed: one id, one outcome.
    assert_eq!(run(&mut ledger, NOW, &[failed]), [R::IdAlreadyFailed]);
    let ok = pay(22, ALICE, SHOP, 100);
    assert_eq!(run(&mut ledger, NOW, &[ok, ok]), [R::Ok, R::Exists]);
    assert_eq!(
        run(&mut ledger, NOW, &[Transfer { amount: 101, ..ok }]),
        [R::ExistsWithDifferentAmount]
    );
    assert_eq!(available(&ledger, ALICE), 900);
}

#[test]
fn two_phase_post_partially_releases_the_rest() {
    let mut ledger = ledger();
    run(&mut ledger, NOW, &[pay(30, BANK, ALICE, 1000)]);
    let hold = Transfer {
        flags: TransferFlags::PENDING,
        ..pay(31, ALICE, SHOP, 600)
    };
    assert_eq!(run(&mut ledger, NOW, &[hold]), [R::Ok]);
    assert_eq!(available(&ledger, ALICE), 400);
    let post = Transfer {
        flags: TransferFlags::POST_PENDING,
        pending_id: hold.id,
        debit_account_id: AccountId::ZERO,
        credit_account_id: AccountId::ZERO,
        code: 0,
        ..pay(32, ALICE, SHOP, 450)
    };
    assert_eq!(run(&mut ledger, NOW, &[post]), [R::Ok]);
    assert_eq!(available(&ledger, ALICE), 550);
    assert_eq!(
        ledger.transfer_cached(hold.id).unwrap().pending_status,
        PendingStatus::Posted
    );
    let again = Transfer {
        id: TransferId(33),
        ..post
    };
    assert_eq!(
        run(&mut ledger, NOW, &[again]),
        [R::PendingTransferAlreadyPosted]
    );
    let void = Transfer {
        id: TransferId(34),
        flags: TransferFlags::VOID_PENDING,
        amount: 0,
        ..post
    };
    assert_eq!(
        run(&mut ledger, NOW, &[void]),
        [R::PendingTransferAlreadyPosted]
    );
}

#[test]
fn a_pending_transfer_expires_deterministically() {
    let mut ledger = ledger();
    run(&mut ledger, NOW, &[pay(40, BANK, ALICE, 100)]);
    let hold = Transfer {
        flags: TransferFlags::PENDING,
        timeout_secs: 60,
        ..pay(41, ALICE, SHOP, 100)
    };
    run(&mut ledger, NOW, &[hold]);
    assert_eq!(available(&ledger, ALICE), 0);
    assert_eq!(
        ledger.next_expiry(),
        Some(ledger.transfer_cached(hold.id).unwrap().transfer.timestamp + 60 * SEC)
    );
    // One second before the timeout nothing happens; at the timeout the hold is released.
    run(&mut ledger, NOW + 59 * SEC, &[]);
    assert_eq!(available(&ledger, ALICE), 0);
    run(&mut ledger, NOW + 61 * SEC, &[]);
    assert_eq!(available(&ledger, ALICE), 100);
    assert_eq!(
        ledger.transfer_cached(hold.id).unwrap().pending_status,
        PendingStatus::Expired
    );
    let post = Transfer {
        flags: TransferFlags::POST_PENDING,
        pending_id: hold.id,
        ..pay(42, ALICE, SHOP, 100)
    };
    assert_eq!(
        run(&mut ledger, NOW + 62 * SEC, &[post]),
        [R::PendingTransferExpired]
    );
}

#[test]
fn a_failed_linked_chain_leaves_no_trace() {
    let mut ledger = ledger();
    let linked = |t: Transfer| Transfer {
        flags: TransferFlags::LINKED,
        ..t
    };
    let chain = [
        linked(pay(50, BANK, ALICE, 100)),
        linked(pay(51, ALICE, SHOP, 60)),
        pay(52, ALICE, SHOP, 60),
    ];
    assert_eq!(
        run(&mut ledger, NOW, &chain),
        [
            R::LinkedEventFailed,
            R::LinkedEventFailed,
            R::ExceedsCredits
        ]
    );
    assert_eq!(available(&ledger, ALICE), 0);
    assert!(ledger.transfer_cached(TransferId(50)).is_none());
    assert!(ledger.transfer_cached(TransferId(51)).is_none());
    let open = [pay(53, BANK, ALICE, 1), linked(pay(54, BANK, ALICE, 1))];
    assert_eq!(
        run(&mut ledger, NOW, &open),
        [R::Ok, R::LinkedEventChainOpen]
    );
}

#[test]
fn currencies_never_mix() {
    let mut ledger = ledger();
    assert_eq!(
        run(&mut ledger, NOW, &[pay(60, BANK, DOLLARS, 1)]),
        [R::AccountsMustHaveTheSameCurrency]
    );
    let usd = Transfer {
        currency: Currency::USD,
        ..pay(61, BANK, SHOP, 1)
    };
    assert_eq!(
        run(&mut ledger, NOW, &[usd]),
        [R::TransferMustHaveTheSameCurrencyAsAccounts]
    );
}

#[test]
fn input_errors_are_precise() {
    let mut ledger = ledger();
    let cases = [
        (pay(0, BANK, SHOP, 1), R::IdMustNotBeZero),
        (pay(70, BANK, BANK, 1), R::AccountsMustBeDifferent),
        (pay(71, BANK, SHOP, 0), R::AmountMustNotBeZero),
        (pay(72, AccountId(99), SHOP, 1), R::DebitAccountNotFound),
        (pay(73, BANK, AccountId(99), 1), R::CreditAccountNotFound),
        (
            Transfer {
                code: 0,
                ..pay(74, BANK, SHOP, 1)
            },
            R::CodeMustNotBeZero,
        ),
        (
            Transfer {
                timeout_secs: 5,
                ..pay(75, BANK, SHOP, 1)
            },
            R::TimeoutReservedForPendingTransfer,
        ),
        (
            Transfer {
                flags: TransferFlags::POST_PENDING,
                pending_id: TransferId(999),
                ..pay(76, BANK, SHOP, 1)
            },
            R::PendingTransferNotFound,
        ),
        (
            Transfer {
                amount: u64::MAX,
                ..pay(77, BANK, SHOP, 1)
            },
            R::AmountTooLarge,
        ),
    ];
    for (transfer, expected) in cases {
        assert_eq!(
            run(&mut ledger, NOW, &[transfer]),
            [expected],
            "{transfer:?}"
        );
    }
}

#[test]
fn a_dropped_batch_changes_nothing() {
    let mut ledger = ledger();
    run(&mut ledger, NOW, &[pay(80, BANK, ALICE, 100)]);
    {
        let mut batch = ledger.begin(NOW + SEC);
        let results = batch
            .create_transfers(&[pay(81, ALICE, SHOP, 100)], &mut NoColdStore)
            .unwrap();
        assert_eq!(results, [R::Ok]);
        // dropped: the database commit failed
    }
    assert_eq!(available(&ledger, ALICE), 100);
    assert!(ledger.transfer_cached(TransferId(81)).is_none());
    assert_eq!(
        run(&mut ledger, NOW + SEC, &[pay(81, ALICE, SHOP, 100)]),
        [R::Ok]
    );
}

#[test]
fn eviction_keeps_memory_bounded_and_raises_the_watermark() {
    let mut ledger = Ledger::new(LedgerConfig {
        transfers_cached_max: 2,
    });
    let mut batch = ledger.begin(NOW);
    batch.create_accounts(&[
        Account::new(
            BANK,
            Currency::CNY,
            AccountKind::Clearing,
            AccountFlags::NONE,
        ),
        Account::new(
            SHOP,
            Currency::CNY,
            AccountKind::Merchant,
            AccountFlags::NONE,
        ),
    ]);
    batch.commit();
    run(
        &mut ledger,
        NOW,
        &[
            pay(1, BANK, SHOP, 1),
            pay(2, BANK, SHOP, 1),
            pay(3, BANK, SHOP, 1),
        ],
    );
    ledger.evict_excess();
    assert_eq!(ledger.transfers_cached(), 2);
    assert_eq!(
        ledger.watermark(),
        2,
        "id 1 was evicted: ids below 2 must be looked up cold"
    );
}
