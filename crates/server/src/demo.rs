//! The demo city: a small Hangzhou to try the platform in, seeded by `cashless serve --demo`.
//!
//! A dozen merchants of different kinds (a noodle chain with two shops, a stall, a florist, a
//! supermarket, a fruit vendor, a pharmacy, a cinema …), each with stores, terminals and a
//! signing key, and three consumers (one a foreign visitor with a passport) who signed up,
//! verified their names, set a PIN, linked a card and topped up — all through the same code
//! paths as real users (SMS codes from the simulated gateway, card codes from the simulated
//! bank). What was made, merchant keys included, is written to `<data-dir>/demo-city.json`:
//! that file is the marker. With it, seeding again only reads it back; without it, a city
//! whose merchants already exist is refused rather than doubled.

use cashless_kernel::wire;
use cashless_payments::ids::{MerchantId, StoreId};
use cashless_wallet::ids::{BindingId, CardId};
use std::path::Path;
use std::sync::Arc;

use cashless_kernel::{ServiceError, ServiceResult};
use cashless_partners::SimulatedSms;
use cashless_payments::merchants::{MerchantInput, uscc_check_character};
use cashless_payments::signing::MerchantSigner;
use cashless_payments::staff::{StaffInput, StaffRole};
use cashless_wallet::DeviceInput;
use cashless_wallet::funding::TopUpRequest;
use cashless_wallet::identity::IdentityInput;
use serde::{Deserialize, Serialize};

use crate::AppState;

/// The PIN every demo consumer has.
pub const DEMO_PIN: &str = "258036";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoCity {
    pub merchants: Vec<DemoMerchant>,
    pub consumers: Vec<DemoConsumer>,
    /// Staff who sign in to a till with their phone (no key).
    #[serde(default)]
    pub staff: Vec<DemoStaff>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoStaff {
    pub name: String,
    pub phone: String,
    pub role: String,
    pub merchant: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct DemoMerchant {
    pub id: String,
    pub display_name: String,
    pub chinese_name: String,
    pub kind: String,
    pub key_id: String,
    /// The merchant's Ed25519 signing key (64 hex digits): demo data, kept in the data dir.
    pub secret_key: String,
    pub stores: Vec<DemoStore>,
}

impl std::fmt::Debug for DemoMerchant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoMerchant")
            .field("id", &self.id)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoStore {
    pub id: String,
    pub name: String,
    pub terminal_id: String,
    pub static_code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoConsumer {
    pub name: String,
    pub phone: String,
    pub kind: String,
    pub balance: String,
}

struct MerchantPlan {
    display_name: &'static str,
    chinese_name: &'static str,
    legal_name: &'static str,
    kind: &'static str,
    mcc: &'static str,
    stores: &'static [(&'static str, &'static str)],
}

const MERCHANTS: &[MerchantPlan] = &[
    MerchantPlan {
        display_name: "West Lake Noodles",
        chinese_name: "西湖面馆",
        legal_name: "Hangzhou West Lake Noodles Catering Co., Ltd.",
        kind: "restaurant chain",
        mcc: "5812",
        stores: &[
            ("Hubin", "12 Hubin Road, Shangcheng"),
            ("Wulin", "88 Wulin Square, Gongshu"),
        ],
    },
    MerchantPlan {
        display_name: "Grandma Wu Noodle Stall",
        chinese_name: "吴阿婆面摊",
        legal_name: "Hangzhou Shangcheng Wu Noodle Stall",
        kind: "noodle stall",
        mcc: "5814",
        stores: &[("Hefang Street", "Hefang Street stall 17")],
    },
    MerchantPlan {
        display_name: "Lotus Flowers",
        chinese_name: "荷花花店",
        legal_name: "Hangzhou Lotus Flower Shop",
        kind: "flower shop",
        mcc: "5992",
        stores: &[("Nanshan Road", "210 Nanshan Road")],
    },
    MerchantPlan {
        display_name: "Tianmu Supermarket",
        chinese_name: "天目超市",
        legal_name: "Hangzhou Tianmu Supermarket Co., Ltd.",
        kind: "supermarket",
        mcc: "5411",
        stores: &[("Tianmushan Road", "398 Tianmushan Road, Xihu")],
    },
    MerchantPlan {
        display_name: "Old Chen Fruit",
        chinese_name: "老陈水果摊",
        legal_name: "Hangzhou Xihu Chen Fruit Stand",
        kind: "street vendor",
        mcc: "5499",
        stores: &[("Longjing Road", "Longjing Road corner")],
    },
    MerchantPlan {
        display_name: "Qinghe Pharmacy",
        chinese_name: "清河药房",
        legal_name: "Hangzhou Qinghe Pharmacy Chain Co., Ltd.",
        kind: "pharmacy",
        mcc: "5912",
        stores: &[("Yan'an Road", "501 Yan'an Road")],
    },
    MerchantPlan {
        display_name: "Lakeside Cinema",
        chinese_name: "湖滨影城",
        legal_name: "Hangzhou Lakeside Cinema Co., Ltd.",
        kind: "cinema",
        mcc: "7832",
        stores: &[("Hubin In77", "In77 C, Hubin Road")],
    },
    MerchantPlan {
        display_name: "Longjing Tea House",
        chinese_name: "龙井茶馆",
        legal_name: "Hangzhou Longjing Tea House Co., Ltd.",
        kind: "tea house",
        mcc: "5812",
        stores: &[("Meijiawu", "Meijiawu Village 35")],
    },
    MerchantPlan {
        display_name: "Xiaofeng Books",
        chinese_name: "晓风书屋",
        legal_name: "Hangzhou Xiaofeng Bookstore Co., Ltd.",
        kind: "bookstore",
        mcc: "5942",
        stores: &[("Tiyuchang Road", "45 Tiyuchang Road")],
    },
    MerchantPlan {
        display_name: "Hubin Corner Shop",
        chinese_name: "湖滨便利店",
        legal_name: "Hangzhou Hubin Convenience Store",
        kind: "convenience store",
        mcc: "5499",
        stores: &[("Pinghai Road", "3 Pinghai Road")],
    },
    MerchantPlan {
        display_name: "Zhiwei Bakery",
        chinese_name: "知味面包坊",
        legal_name: "Hangzhou Zhiwei Bakery Co., Ltd.",
        kind: "bakery",
        mcc: "5462",
        stores: &[("Renhe Road", "20 Renhe Road")],
    },
    MerchantPlan {
        display_name: "Hangzhou Metro Cafe",
        chinese_name: "地铁咖啡",
        legal_name: "Hangzhou Metro Cafe Co., Ltd.",
        kind: "cafe",
        mcc: "5814",
        stores: &[("Longxiangqiao", "Longxiangqiao Station, exit B")],
    },
];

/// Seeds the city, or reads it back if `<data_dir>/demo-city.json` says it is there.
pub async fn seed(
    state: &AppState,
    sms: &Arc<SimulatedSms>,
    data_dir: &Path,
) -> ServiceResult<DemoCity> {
    let marker = data_dir.join("demo-city.json");
    if let Ok(text) = std::fs::read_to_string(&marker) {
        return serde_json::from_str(&text)
            .map_err(|error| ServiceError::internal(format!("{}: {error}", marker.display())));
    }
    if state
        .payments
        .licence_onboarded(&demo_licence_number(0)?)
        .await?
    {
        return Err(ServiceError::conflict(
            "demo_city_incomplete",
            format!(
                "the demo merchants exist but {} is missing: start with an empty data directory",
                marker.display()
            ),
        ));
    }
    let mut merchants = Vec::new();
    for (n, plan) in MERCHANTS.iter().enumerate() {
        merchants.push(seed_merchant(state, n, plan).await?);
    }
    let consumers = vec![
        seed_consumer(
            state,
            sms,
            Person::resident("李娜", "+8613800138001", "19900307", 1),
            "2000.00",
        )
        .await?,
        seed_consumer(
            state,
            sms,
            Person::resident("王芳", "+8613800138002", "19851122", 2),
            "500.00",
        )
        .await?,
        seed_consumer(
            state,
            sms,
            Person::visitor("Emma Clarke", "+8613800138003"),
            "300.00",
        )
        .await?,
    ];
    let mut staff = Vec::new();
    for (name, phone, role) in [
        ("Xiao Zhang", "+8613900139001", StaffRole::Cashier),
        ("Manager Liu", "+8613900139002", StaffRole::Manager),
    ] {
        let added = state
            .payments
            .add_staff_to(
                merchants[0].id.clone(),
                StaffInput {
                    phone: phone.to_owned(),
                    name: name.to_owned(),
                    role,
                },
                None,
            )
            .await?;
        staff.push(DemoStaff {
            name: added.name,
            phone: phone.to_owned(),
            role: role.name().to_owned(),
            merchant: merchants[0].display_name.clone(),
        });
    }
    let city = DemoCity {
        merchants,
        consumers,
        staff,
    };
    let text = serde_json::to_string_pretty(&city)
        .map_err(|error| ServiceError::internal(error.to_string()))?;
    write_private(&marker, &text)
        .map_err(|error| ServiceError::internal(format!("{}: {error}", marker.display())))?;
    Ok(city)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// The business licence number of the `n`th demo merchant (a valid unified social credit code).
fn demo_licence_number(n: usize) -> ServiceResult<String> {
    let serial = 7_100_000_000_u64.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    let first = format!("9133010{serial:010}");
    let check = uscc_check_character(&first)
        .ok_or_else(|| ServiceError::internal("demo licence number"))?;
    Ok(format!("{first}{check}"))
}

async fn seed_merchant(
    state: &AppState,
    n: usize,
    plan: &MerchantPlan,
) -> ServiceResult<DemoMerchant> {
    let (secret_key, public_key) = MerchantSigner::generate_key();
    let merchant = state
        .payments
        .onboard(MerchantInput {
            legal_name: plan.legal_name.to_owned(),
            display_name: plan.display_name.to_owned(),
            chinese_name: Some(plan.chinese_name.to_owned()),
            mcc: plan.mcc.to_owned(),
            city: "Hangzhou".to_owned(),
            licence_number: demo_licence_number(n)?,
            settlement_bank: "ICBC Hangzhou".to_owned(),
            settlement_account: format!("62220201{:011}", 10_000 + n),
            fee_rate_bps: None,
            notify_url: None,
            public_key: Some(public_key),
            order_amount_max: None,
        })
        .await?;
    let key_id = merchant
        .keys
        .first()
        .map(|key| key.id.clone())
        .ok_or_else(|| ServiceError::internal("a demo merchant without a key"))?;
    let mut stores = Vec::new();
    for (name, address) in plan.stores {
        let merchant_id = MerchantId::parse(&merchant.id)?;
        let store = state
            .payments
            .add_store(&merchant_id, name, address)
            .await?;
        let terminal = state
            .payments
            .add_terminal(&merchant_id, &StoreId::parse(&store.id)?, "Till 1")
            .await?;
        stores.push(DemoStore {
            id: store.id,
            name: store.name,
            terminal_id: terminal.id,
            static_code: store.static_code,
        });
    }
    Ok(DemoMerchant {
        id: merchant.id,
        display_name: plan.display_name.to_owned(),
        chinese_name: plan.chinese_name.to_owned(),
        kind: plan.kind.to_owned(),
        key_id,
        secret_key,
        stores,
    })
}

struct Person {
    name: &'static str,
    phone: &'static str,
    identity: IdentityInput,
    card: String,
    holder: &'static str,
    kind: &'static str,
}

impl Person {
    fn resident(name: &'static str, phone: &'static str, birth: &str, n: u32) -> Person {
        let first = format!("330106{birth}{:03}", 100 + n);
        let check = cashless_consumer::resident_id::check_character(first.as_bytes()) as char;
        Person {
            name,
            phone,
            identity: IdentityInput::ResidentId {
                name: name.to_owned(),
                number: format!("{first}{check}"),
            },
            card: card_number("622202", n),
            holder: name,
            kind: "resident",
        }
    }

    fn visitor(name: &'static str, phone: &'static str) -> Person {
        Person {
            name,
            phone,
            identity: IdentityInput::Passport {
                name: name.to_owned(),
                country: "GBR".to_owned(),
                number: "533380006".to_owned(),
                nationality: "GBR".to_owned(),
                date_of_birth: "1991-04-12".to_owned(),
            },
            card: card_number("4", 9),
            holder: "EMMA CLARKE",
            kind: "foreign visitor (passport, Visa card)",
        }
    }
}

/// A card number with a valid Luhn digit.
fn card_number(prefix: &str, n: u32) -> String {
    let partial = format!("{prefix}{:0width$}", 7_000 + n, width = 15 - prefix.len());
    let check = cashless_consumer::card::luhn_check_digit(&partial);
    format!("{partial}{check}")
}

/// The newest 6-digit code texted to `phone`.
fn code_for(sms: &SimulatedSms, phone: &str) -> ServiceResult<String> {
    sms.newest_code_to(phone)
        .ok_or_else(|| ServiceError::internal(format!("no code texted to {phone}")))
}

async fn seed_consumer(
    state: &AppState,
    sms: &Arc<SimulatedSms>,
    person: Person,
    top_up: &str,
) -> ServiceResult<DemoConsumer> {
    let wallet = &state.wallet;
    wallet.send_sign_in_code(person.phone).await?;
    let code = code_for(sms, person.phone)?;
    let signed_in = wallet
        .sign_in(
            person.phone,
            &code,
            DeviceInput {
                name: Some("Demo phone".to_owned()),
                ..DeviceInput::default()
            },
        )
        .await?;
    let session = wallet.authenticate(&signed_in.token).await?;
    wallet.verify_identity(&session, person.identity).await?;
    wallet.set_pin(&session, DEMO_PIN).await?;
    let binding = wallet
        .start_card_binding(&session, &person.card, person.holder)
        .await?;
    let otp = code_for(sms, person.phone)?;
    let card = wallet
        .confirm_card_binding(&session, &BindingId::parse(&binding.binding_id)?, &otp)
        .await?;
    let currency = if card.foreign_currency_top_up {
        "USD"
    } else {
        "CNY"
    };
    let amount = if currency == "USD" { "50.00" } else { top_up };
    wallet
        .top_up(
            &session,
            Some(&format!("demo-top-up-{}", person.phone)),
            TopUpRequest {
                card_id: CardId::parse(&card.id)?,
                amount: wire::money_in(amount, Some(currency))?,
            },
        )
        .await?;
    wallet.sign_out(&session).await?;
    Ok(DemoConsumer {
        name: person.name.to_owned(),
        phone: person.phone.to_owned(),
        kind: person.kind.to_owned(),
        balance: format!("{amount} {currency}"),
    })
}
