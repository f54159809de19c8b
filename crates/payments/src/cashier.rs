//! The cashier scans the consumer's payment code (merchant API): the order is made for the
//! code's payer and paid at once below the password-free limit, or waits in `USERPAYING` for
//! the payer's PIN. A payer short of money with a chosen card has the card debited first.
//! Every code that does not pay spends one of the merchant's guesses (see `paycode`).

use cashless_kernel::{Secrets, ServiceError, ServiceResult};
use cashless_ledger::{Money, TransferId};
use cashless_store::{Conn, DbError, Param, WriteTx};
use cashless_wallet::payer::{self, Payer};

use crate::ids::{StoreId, TerminalId};
use crate::lifecycle;
use crate::merchants::{self, MerchantCaller, MerchantRow, OrderLimits};
use crate::order::{self, OrderKind, OrderRow, OrderStatus, OrderView};
use crate::orders;
use crate::pay::{Charge, ChargeConfig, OrderWrite, PaycodeInput, charge, password_free};
use crate::paycode::{self, GuessLimit, PayCode};
use crate::refusals::{self, PayError, buyer_balance_not_enough};
use crate::{Payments, duration_ns};

/// Where a payment-code charge stands after one try.
enum PaycodeStep {
    Done(Box<OrderView>),
    /// The payer is short and chose a card: debit it, then try again with this device.
    NeedsCard(FoundDevice),
}

/// The device that made a code, and the time step it made it in.
#[derive(Clone, Debug)]
struct FoundDevice {
    user_id: String,
    step: u64,
}

/// A payment-code request, checked.
#[derive(Clone, Debug)]
struct PaycodeRequest {
    out_trade_no: String,
    subject: String,
    amount: Money,
    code: PayCode,
    store_id: Option<StoreId>,
    terminal_id: Option<TerminalId>,
    /// What a retry must repeat exactly.
    fingerprint: String,
}

impl PaycodeRequest {
    fn check(input: &PaycodeInput) -> Result<PaycodeRequest, PayError> {
        let out_trade_no =
            orders::check_out_no(&input.out_trade_no, "out_trade_no").map_err(PayError::Request)?;
        let subject = orders::check_subject(&input.subject).map_err(PayError::Request)?;
        let amount = input.amount;
        orders::cny_only(amount).map_err(PayError::Request)?;
        let code = PayCode::parse(&input.auth_code).ok_or_else(|| {
            PayError::Request(ServiceError::invalid(
                "paycode_invalid",
                "that is not a Cashless payment code: it has 18 digits and starts with 28",
            ))
        })?;
        let fingerprint = format!(
            "paycode|{}|{}|{subject}|{:?}|{:?}",
            input.auth_code.trim(),
            amount.minor(),
            input.store_id.as_ref().map(StoreId::as_str),
            input.terminal_id.as_ref().map(TerminalId::as_str)
        );
        Ok(PaycodeRequest {
            out_trade_no,
            subject,
            amount,
            code,
            store_id: input.store_id.clone(),
            terminal_id: input.terminal_id.clone(),
            fingerprint,
        })
    }
}

/// What one try runs in the writer, moved into its operation.
struct PaycodeJob {
    merchant_id: String,
    request: PaycodeRequest,
    /// The device an earlier try found (the retry after a card top-up).
    verified: Option<FoundDevice>,
    secrets: Secrets,
    charge: ChargeConfig,
    step_secs: u64,
    limits: OrderLimits,
    userpaying_ns: u64,
    new_id: String,
    transfer_ids: [TransferId; 2],
}

impl Payments {
    /// The cashier scanned the payer's code (merchant API). Pays at once below the
    /// password-free limit; otherwise the order waits in `USERPAYING` for the payer's PIN.
    pub async fn pay_by_paycode(
        &self,
        caller: MerchantCaller,
        input: PaycodeInput,
    ) -> ServiceResult<OrderView> {
        let merchant_view = refusals::for_merchant;
        let device = match self
            .paycode_once(caller.clone(), input.clone(), None)
            .await
            .map_err(merchant_view)?
        {
            PaycodeStep::Done(view) => return Ok(*view),
            PaycodeStep::NeedsCard(device) => device,
        };
        // Short of money: the card the payer chose covers the difference, keyed by the code
        // itself (one debit per scanned code, whatever the POS retries), then once more
        // without checking the code again (it was checked; the bank may have taken seconds).
        let amount = input.amount;
        let key = format!("paycode:{}", input.auth_code.trim());
        if !self
            .wallet
            .fund_from_payment_card(&device.user_id, &key, amount)
            .await
            .map_err(|error| merchant_view(PayError::Card(error)))?
        {
            return Err(buyer_balance_not_enough());
        }
        match self
            .paycode_once(caller, input, Some(device))
            .await
            .map_err(merchant_view)?
        {
            PaycodeStep::Done(view) => Ok(*view),
            PaycodeStep::NeedsCard(_) => Err(buyer_balance_not_enough()),
        }
    }

    /// One try at a payment-code charge. `verified`: the device an earlier try found for this
    /// code (the retry after a card top-up does not check the code again).
    async fn paycode_once(
        &self,
        caller: MerchantCaller,
        input: PaycodeInput,
        verified: Option<FoundDevice>,
    ) -> Result<PaycodeStep, PayError> {
        let request = PaycodeRequest::check(&input)?;
        // A POS retrying the same order is answered before any guess is counted: a retry
        // must not run into the guessing limit.
        if let Some(view) = self.paycode_answered(&caller.merchant_id, &request).await? {
            return Ok(PaycodeStep::Done(Box::new(view)));
        }
        let now_secs = cashless_kernel::now_ns() / 1_000_000_000;
        let retry = verified.is_some();
        let credential = caller.actor();
        if !retry {
            self.guesses
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take_guess(
                    &caller.merchant_id,
                    &credential,
                    now_secs,
                    &self.config.paycode_guesses,
                )
                .map_err(|limit| PayError::Request(guesses_limited(limit)))?;
        }
        let job = PaycodeJob {
            merchant_id: caller.merchant_id.clone(),
            request,
            verified,
            secrets: self.wallet.secrets().clone(),
            charge: self.charge_config(),
            step_secs: self.config.paycode_step.as_secs(),
            limits: self.order_limits(),
            userpaying_ns: duration_ns(self.config.userpaying_timeout),
            new_id: self.wallet.new_id_string(),
            transfer_ids: [
                TransferId(self.wallet.new_id()),
                TransferId(self.wallet.new_id()),
            ],
        };
        let result = self.store.write(move |tx| charge_paycode(tx, job)).await;
        // Only codes that do not pay spend a guess.
        let guessed_wrong = matches!(&result, Ok(Err(PayError::CodeUnknown)));
        if !retry && !guessed_wrong {
            let mut guesses = self
                .guesses
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Only a code that matched its device grows the merchant's day.
            if matches!(&result, Ok(Ok(_))) {
                guesses.paid(&caller.merchant_id, &credential, now_secs);
            } else {
                guesses.give_back(&caller.merchant_id, &credential, now_secs);
            }
        }
        result?
    }

    /// The order an earlier request with this `out_trade_no` made, if it asked the same.
    async fn paycode_answered(
        &self,
        merchant_id: &str,
        request: &PaycodeRequest,
    ) -> Result<Option<OrderView>, PayError> {
        let (merchant_id, out_trade_no) = (merchant_id.to_owned(), request.out_trade_no.clone());
        let existing = self
            .store
            .read(move |conn| {
                let Some(order) = order::by_out_trade_no(conn, &merchant_id, &out_trade_no)? else {
                    return Ok(None);
                };
                Ok(merchants::load(conn, &merchant_id)?.map(|merchant| (order, merchant)))
            })
            .await?;
        match existing {
            Some((order, _)) if order.fingerprint != request.fingerprint => {
                Err(PayError::Request(out_trade_no_conflict()))
            }
            Some((order, merchant)) => Ok(Some(order.view(Some(&merchant)))),
            None => Ok(None),
        }
    }
}

/// The writer operation of one try: the order made for the code's payer, and paid if it
/// may be without the PIN. A code that matches no device is `Ok(Err(CodeUnknown))`: the
/// operation wrote nothing and succeeds, so the guess is counted.
fn charge_paycode(
    tx: &mut WriteTx<'_, '_>,
    job: PaycodeJob,
) -> Result<Result<PaycodeStep, PayError>, PayError> {
    let now = tx.now_ns();
    let request = &job.request;
    let conn = tx.conn()?;
    let merchant = merchants::load(conn, &job.merchant_id)?
        .ok_or_else(|| PayError::Request(merchants::merchant_not_found()))?;
    if let Some(existing) = order::by_out_trade_no(conn, &merchant.id, &request.out_trade_no)? {
        if existing.fingerprint != request.fingerprint {
            return Err(PayError::Request(out_trade_no_conflict()));
        }
        return Ok(Ok(PaycodeStep::Done(Box::new(
            existing.view(Some(&merchant)),
        ))));
    }
    job.limits
        .check(&merchant, request.amount)
        .map_err(PayError::request)?;
    let store_id = orders::check_place(
        conn,
        &merchant.id,
        request.store_id.as_ref(),
        request.terminal_id.as_ref(),
    )
    .map_err(PayError::request)?;
    let device = match job.verified.clone() {
        Some(device) => device,
        None => match find_device(conn, &job.secrets, request.code, now, job.step_secs)? {
            Some(device) => device,
            None => return Ok(Err(PayError::CodeUnknown)),
        },
    };
    if code_used(conn, request.code, device.step)? {
        return Ok(Err(PayError::Request(ServiceError::conflict(
            "paycode_used",
            "this payment code was already used; ask the payer to refresh it",
        ))));
    }
    let payer = payer::payer(conn, &device.user_id).map_err(PayError::payer)?;
    // The payer's limits, before an order is made for them.
    let today = payer::outflow_today(conn, &payer, now)?;
    payer::check_outflow(&payer, request.amount, &today, &job.charge.wallet)
        .map_err(PayError::payer)?;
    let (free, _) = password_free(
        conn,
        &job.charge.config,
        payer.user_id(),
        request.amount,
        now,
    )?;
    // Short, with a card to cover it: nothing written yet; the card first.
    if free && job.verified.is_none() && payer.has_payment_card() && short(tx, &payer, request) {
        return Ok(Ok(PaycodeStep::NeedsCard(device)));
    }
    let mut order = new_order(&job, &merchant, &payer, store_id, free, now);
    let conn = tx.conn()?;
    lifecycle::create(conn, &order).map_err(PayError::platform)?;
    conn.execute(
        "INSERT INTO paycode_uses (slot, step, variant, order_id) VALUES ($1, $2, $3, $4)",
        &[
            Param::Int(code_param(request.code.slot)),
            Param::Int(code_param(device.step)),
            Param::Int(i64::from(request.code.variant)),
            Param::Text(&order.id),
        ],
    )?;
    if free {
        let paying = Charge {
            config: &job.charge,
            merchant: &merchant,
            payer: &payer,
            pin_verified: false,
            transfer_ids: job.transfer_ids,
            write: OrderWrite::Update,
            now,
        };
        charge(tx, &paying, &mut order)?;
    }
    Ok(Ok(PaycodeStep::Done(Box::new(order.view(Some(&merchant))))))
}

/// Whether the payer's available balance is below the request's amount.
fn short(tx: &WriteTx<'_, '_>, payer: &Payer, request: &PaycodeRequest) -> bool {
    let available = tx.account(payer.wallet()).map_or(0, |account| {
        account.balances.credit_balance_available().max(0)
    });
    let available = i64::try_from(available).unwrap_or(i64::MAX);
    Money::new(available, request.amount.currency()) < request.amount
}

/// The order a payment code makes: waiting for payment (paid in the same operation) when
/// password-free, else for the payer's PIN.
fn new_order(
    job: &PaycodeJob,
    merchant: &MerchantRow,
    payer: &Payer,
    store_id: Option<String>,
    free: bool,
    now: u64,
) -> OrderRow {
    let request = &job.request;
    OrderRow {
        id: job.new_id.clone(),
        merchant_id: merchant.id.clone(),
        store_id,
        terminal_id: request
            .terminal_id
            .as_ref()
            .map(|id| id.as_str().to_owned()),
        out_trade_no: request.out_trade_no.clone(),
        qr_token: None,
        kind: OrderKind::PayCode,
        status: if free {
            OrderStatus::WaitBuyerPay
        } else {
            OrderStatus::UserPaying
        },
        amount: request.amount,
        currency: request.amount.currency(),
        subject: request.subject.clone(),
        fee: Money::zero(request.amount.currency()),
        refunded: Money::zero(request.amount.currency()),
        payer_user_id: Some(payer.user_id().to_owned()),
        payer_name: Some(payer.masked_name()),
        fingerprint: request.fingerprint.clone(),
        transfer_id: None,
        expires_ns: now.saturating_add(job.userpaying_ns),
        paid_ns: None,
        created_ns: now,
        updated_ns: now,
    }
}

/// A slot or step as an SQL integer (both far below `i64::MAX`).
fn code_param(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Whether this code (slot, step, variant) already made an order.
fn code_used(conn: &mut Conn, code: PayCode, step: u64) -> Result<bool, DbError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM paycode_uses WHERE slot = $1 AND step = $2 AND variant = $3",
            &[
                Param::Int(code_param(code.slot)),
                Param::Int(code_param(step)),
                Param::Int(i64::from(code.variant)),
            ],
        )?
        .is_some())
}

fn out_trade_no_conflict() -> ServiceError {
    ServiceError::conflict(
        "out_trade_no_conflict",
        "an order with this out_trade_no exists with different fields",
    )
}

fn guesses_limited(limit: GuessLimit) -> ServiceError {
    let message = match limit {
        GuessLimit::CredentialMinute => {
            "too many payment codes that did not pay from this till this minute; wait a minute"
        }
        GuessLimit::CredentialDay => {
            "too many payment codes that did not pay from this till today; ask the merchant to check it"
        }
        GuessLimit::MerchantMinute => {
            "too many payment codes that did not pay this minute; wait a minute"
        }
        GuessLimit::MerchantDay => {
            "too many payment codes that did not pay today; ask payers to scan your code instead"
        }
    };
    ServiceError::too_many("paycode_guesses_limited", message)
}

/// The device whose code this is, if the code is one it made in the current or previous step
/// and its device is still signed in.
fn find_device(
    conn: &mut Conn,
    secrets: &Secrets,
    code: PayCode,
    now: u64,
    step_secs: u64,
) -> Result<Option<FoundDevice>, DbError> {
    let row = conn.query_opt(
        "SELECT p.user_id, p.secret FROM paycode_devices p \
         JOIN devices d ON d.id = p.device_id WHERE p.slot = $1 \
         AND EXISTS (SELECT 1 FROM sessions s WHERE s.device_id = p.device_id \
             AND s.revoked_ns IS NULL AND s.expires_ns > $2)",
        &[
            Param::Int(code_param(code.slot)),
            Param::Int(code_param(now)),
        ],
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (user_id, salt) = (row.text(0)?.to_owned(), row.text(1)?.to_owned());
    let secret = crate::signing::decode_hex(&secrets.fingerprint(&[
        "paycode",
        &code.slot.to_string(),
        &salt,
    ]))
    .unwrap_or_default();
    Ok(
        paycode::matching_step(&secret, code, now / 1_000_000_000, step_secs)
            .map(|step| FoundDevice { user_id, step }),
    )
}
