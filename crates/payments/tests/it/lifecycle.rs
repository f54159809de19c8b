//! Random sequences of what can happen to an order — pay, confirm, decline, close, cancel,
//! refund, expiry — run against the real service and checked after every step against a
//! model of the state machine: the order's status and refunded total, the merchant's events
//! (exactly one per change, of the change's type, in order), and in the end the payer's
//! balance. A failing run prints its seed; `CASHLESS_LIFECYCLE_SEED=<seed>` replays it.

use cashless_kernel::secrets::decode_hex;
use cashless_payments::PaymentsConfig;
use cashless_payments::ids::PaymentId;
use cashless_payments::orders::{PrecreateInput, RefundInput};
use cashless_payments::pay::{PayInput, PaycodeInput};
use cashless_payments::paycode;
use cashless_store::Param;
use cashless_testkit::{TestDb, both_backends};
use cashless_wallet::Session;
use cashless_wallet::confirm::Confirmation;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::{Harness, Merchant, PIN};

/// An amount as the HTTP edge hands it to the service.
fn cny(text: &str) -> cashless_ledger::Money {
    cashless_kernel::wire::money(text, cashless_ledger::Currency::CNY).unwrap()
}

/// Every order is for 10.00 CNY: above the password-free limit set here (5.00), so a
/// payment code waits for the payer's PIN.
const AMOUNT: u64 = 1_000;
const ORDERS: usize = 10;
const STEPS: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    WaitBuyerPay,
    UserPaying,
    Success,
    Closed,
    Finished,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::WaitBuyerPay => "WAIT_BUYER_PAY",
            Status::UserPaying => "USERPAYING",
            Status::Success => "SUCCESS",
            Status::Closed => "CLOSED",
            Status::Finished => "FINISHED",
        }
    }

    fn open(self) -> bool {
        matches!(self, Status::WaitBuyerPay | Status::UserPaying)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    /// The payer scans the order's dynamic code (with the PIN).
    Pay,
    /// The payer confirms a payment-code charge with the PIN.
    Confirm,
    /// The payer declines it.
    Decline,
    Close,
    Cancel,
    /// A refund of 1.00.
    RefundPart,
    /// A refund of what is left.
    RefundRest,
    /// Its time runs out, and the sweeper comes by.
    Expire,
}

const OPS: [Op; 8] = [
    Op::Pay,
    Op::Confirm,
    Op::Decline,
    Op::Close,
    Op::Cancel,
    Op::RefundPart,
    Op::RefundRest,
    Op::Expire,
];

/// What the machine says an order is, and the events it has told.
#[derive(Debug)]
struct Model {
    status: Status,
    refunded: u64,
    events: Vec<&'static str>,
    /// Whether a payment ever went through (the payer was charged).
    paid: bool,
}

impl Model {
    /// Applies `op`; answers whether the service should accept it.
    fn apply(&mut self, op: Op, dynamic: bool) -> bool {
        use Status::{Closed, Finished, Success, UserPaying, WaitBuyerPay};
        let remaining = AMOUNT - self.refunded;
        match (op, self.status) {
            (Op::Pay, WaitBuyerPay) if dynamic => self.pay(),
            (Op::Confirm, UserPaying) => self.pay(),
            (Op::Confirm, Success | Finished) => true,
            (Op::Decline, UserPaying) => self.go(Closed, "order.closed"),
            (Op::Close | Op::Cancel, WaitBuyerPay | UserPaying) => self.go(Closed, "order.closed"),
            (Op::Close | Op::Cancel, Closed) => true,
            (Op::Cancel | Op::RefundRest, Success) => self.refund(remaining),
            (Op::RefundPart, Success) => self.refund(100.min(remaining)),
            (Op::Expire, WaitBuyerPay | UserPaying) => self.go(Closed, "order.closed"),
            (Op::Expire, Success) => self.go(Finished, "order.finished"),
            (Op::Expire, Closed | Finished) => true,
            _ => false,
        }
    }

    fn go(&mut self, status: Status, event: &'static str) -> bool {
        self.status = status;
        self.events.push(event);
        true
    }

    fn pay(&mut self) -> bool {
        self.paid = true;
        self.go(Status::Success, "order.paid")
    }

    fn refund(&mut self, amount: u64) -> bool {
        self.refunded += amount;
        let status = if self.refunded == AMOUNT {
            Status::Closed
        } else {
            Status::Success
        };
        self.go(status, "order.refunded")
    }
}

/// One order under test.
struct Case {
    out_trade_no: String,
    order_id: String,
    qr_code: Option<String>,
    model: Model,
}

async fn random_sequences_follow_the_machine_and_tell_each_change_once(db: TestDb) {
    let seed = std::env::var("CASHLESS_LIFECYCLE_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    let mut rng = StdRng::seed_from_u64(seed);
    let config = PaymentsConfig {
        password_free_max: 500,
        ..PaymentsConfig::default()
    };
    let harness = Harness::new(db, config).await;
    let merchant = harness.merchant().await;
    let payer = harness.payer("李娜", "1000.00").await;
    let (before, _) = harness.wallet.balance_cny(&payer.user_id).await.unwrap();
    let enrolment = harness.payments.enrol_paycode(&payer).await.unwrap();
    let secret = decode_hex(&enrolment.secret).unwrap();

    let mut cases = Vec::new();
    for n in 0..ORDERS {
        let dynamic = n % 2 == 0;
        let out_trade_no = format!("life-{seed:x}-{n}");
        let order = if dynamic {
            let input = PrecreateInput {
                out_trade_no: out_trade_no.clone(),
                amount: cny("10.00"),
                subject: "Noodles".to_owned(),
                store_id: None,
                terminal_id: None,
                expires_in_secs: None,
            };
            let caller = harness.caller(&merchant).await;
            harness.payments.precreate(caller, input).await.unwrap()
        } else {
            let now = cashless_kernel::now_ns() / 1_000_000_000;
            let variant = u8::try_from(n).unwrap();
            let code = paycode::code_at(&secret, enrolment.slot, variant, now, enrolment.step_secs);
            let input = PaycodeInput {
                auth_code: code.to_digits(),
                out_trade_no: out_trade_no.clone(),
                amount: cny("10.00"),
                subject: "Noodles".to_owned(),
                store_id: None,
                terminal_id: None,
            };
            let caller = harness.caller(&merchant).await;
            harness
                .payments
                .pay_by_paycode(caller, input)
                .await
                .unwrap()
        };
        let status = if dynamic {
            Status::WaitBuyerPay
        } else {
            Status::UserPaying
        };
        assert_eq!(order.status, status.name(), "seed {seed}");
        cases.push(Case {
            out_trade_no,
            order_id: order.order_id,
            qr_code: order.qr_code,
            model: Model {
                status,
                refunded: 0,
                events: Vec::new(),
                paid: false,
            },
        });
    }

    for step in 0..STEPS {
        for (n, case) in cases.iter_mut().enumerate() {
            let op = OPS[rng.random_range(0..OPS.len())];
            let dynamic = case.qr_code.is_some();
            let expected = case.model.apply(op, dynamic);
            let accepted = run(&harness, &merchant, &payer, case, op, step).await;
            let context = format!(
                "seed {seed}, order {n}, step {step}: {op:?} -> {:?}",
                case.model
            );
            assert_eq!(accepted, expected, "{context}");
            check(&harness, &merchant, case, &context).await;
        }
    }

    // The payer paid exactly what the orders that went through kept.
    let kept: u64 = cases
        .iter()
        .filter(|case| case.model.paid)
        .map(|case| AMOUNT - case.model.refunded)
        .sum();
    let (after, _) = harness.wallet.balance_cny(&payer.user_id).await.unwrap();
    assert_eq!(before - after, kept, "seed {seed}");
}

/// Runs `op` on the order; answers whether the service accepted it.
async fn run(
    harness: &Harness,
    merchant: &Merchant,
    payer: &Session,
    case: &Case,
    op: Op,
    step: usize,
) -> bool {
    let payments = &harness.payments;
    let caller = harness.caller(merchant).await;
    let refund = |amount: &str| RefundInput {
        out_request_no: format!("refund-{step}-{}", rand::random::<u32>()),
        amount: cny(amount),
        reason: None,
    };
    let outcome = match op {
        Op::Pay => {
            let Some(payload) = case.qr_code.clone() else {
                return false;
            };
            let input = PayInput {
                payload,
                amount: None,
                confirmation: Some(Confirmation::Pin(PIN.to_owned())),
            };
            let key = format!("pay-{}", rand::random::<u64>());
            payments.pay(payer, Some(&key), input).await.map(drop)
        }
        Op::Confirm => {
            let pin = Confirmation::Pin(PIN.to_owned());
            payments
                .confirm_payment(payer, &PaymentId::parse(&case.order_id).unwrap(), &pin)
                .await
                .map(drop)
        }
        Op::Decline => payments
            .decline_payment(payer, &PaymentId::parse(&case.order_id).unwrap())
            .await
            .map(drop),
        Op::Close => payments
            .close_order(caller, &case.out_trade_no)
            .await
            .map(drop),
        Op::Cancel => payments
            .cancel_order(caller, &case.out_trade_no)
            .await
            .map(drop),
        Op::RefundPart => payments
            .refund(caller, &case.out_trade_no, refund("1.00"))
            .await
            .map(drop),
        Op::RefundRest => {
            let order = payments
                .query_order(caller.clone(), &case.out_trade_no)
                .await
                .unwrap();
            let left = AMOUNT - minor(&order.refunded.amount);
            let left = cashless_ledger::format_amount(left, cashless_ledger::Currency::CNY);
            // Nothing left: "0.00" is refused where requests are parsed, at the edge.
            match cashless_kernel::wire::money(&left, cashless_ledger::Currency::CNY) {
                Ok(_) => payments
                    .refund(caller, &case.out_trade_no, refund(&left))
                    .await
                    .map(drop),
                Err(refusal) => Err(refusal),
            }
        }
        Op::Expire => {
            let id = case.order_id.clone();
            harness
                .store
                .write(move |tx| {
                    tx.conn()?.execute(
                        "UPDATE orders SET expires_ns = 0 WHERE id = $1",
                        &[Param::Text(&id)],
                    )?;
                    Ok::<_, cashless_store::StoreError>(())
                })
                .await
                .unwrap();
            payments.sweep_once().await.map(drop)
        }
    };
    outcome.is_ok()
}

/// The order and its events as the merchant sees them agree with the model.
async fn check(harness: &Harness, merchant: &Merchant, case: &Case, context: &str) {
    let caller = harness.caller(merchant).await;
    let order = harness
        .payments
        .query_order(caller, &case.out_trade_no)
        .await
        .unwrap();
    assert_eq!(order.status, case.model.status.name(), "{context}");
    assert_eq!(
        minor(&order.refunded.amount),
        case.model.refunded,
        "{context}"
    );
    let kinds: Vec<String> = harness
        .events_of(merchant, &case.order_id)
        .await
        .into_iter()
        .map(|event| event.kind)
        .collect();
    assert_eq!(kinds, case.model.events, "{context}");
    assert!(
        !case.model.status.open() || case.model.refunded == 0,
        "{context}"
    );
}

/// `"12.34"` in fen.
fn minor(amount: &str) -> u64 {
    cashless_ledger::parse_amount(amount, cashless_ledger::Currency::CNY).unwrap()
}

both_backends!(random_sequences_follow_the_machine_and_tell_each_change_once);
