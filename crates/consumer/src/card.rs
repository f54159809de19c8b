//! Bank card numbers: the Luhn check, and the issuer and network from the BIN (the leading
//! digits). Card numbers are secrets: [`CardNumber`]'s `Debug` shows only the last four.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Network {
    UnionPay,
    Visa,
    Mastercard,
    Jcb,
    Amex,
}

impl Network {
    pub fn name(self) -> &'static str {
        match self {
            Network::UnionPay => "unionpay",
            Network::Visa => "visa",
            Network::Mastercard => "mastercard",
            Network::Jcb => "jcb",
            Network::Amex => "amex",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CardKind {
    Debit,
    Credit,
}

impl CardKind {
    pub fn name(self) -> &'static str {
        match self {
            CardKind::Debit => "debit",
            CardKind::Credit => "credit",
        }
    }
}

/// The issuing bank, when the BIN table knows it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Issuer {
    /// A short stable code: `icbc`, `ccb`, `abc` …
    pub code: &'static str,
    pub name: &'static str,
    pub name_zh: &'static str,
}

/// What the BIN says about a card.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BinInfo {
    pub network: Network,
    pub kind: CardKind,
    pub issuer: Option<Issuer>,
}

const ICBC: Issuer = Issuer {
    code: "icbc",
    name: "Industrial and Commercial Bank of China",
    name_zh: "中国工商银行",
};
const CCB: Issuer = Issuer {
    code: "ccb",
    name: "China Construction Bank",
    name_zh: "中国建设银行",
};
const ABC: Issuer = Issuer {
    code: "abc",
    name: "Agricultural Bank of China",
    name_zh: "中国农业银行",
};
const BOC: Issuer = Issuer {
    code: "boc",
    name: "Bank of China",
    name_zh: "中国银行",
};
const BOCOM: Issuer = Issuer {
    code: "bocom",
    name: "Bank of Communications",
    name_zh: "交通银行",
};
const CMB: Issuer = Issuer {
    code: "cmb",
    name: "China Merchants Bank",
    name_zh: "招商银行",
};
const PSBC: Issuer = Issuer {
    code: "psbc",
    name: "Postal Savings Bank of China",
    name_zh: "中国邮政储蓄银行",
};
const CITIC: Issuer = Issuer {
    code: "citic",
    name: "China CITIC Bank",
    name_zh: "中信银行",
};
const SPDB: Issuer = Issuer {
    code: "spdb",
    name: "Shanghai Pudong Development Bank",
    name_zh: "浦发银行",
};
const HZB: Issuer = Issuer {
    code: "hzbank",
    name: "Bank of Hangzhou",
    name_zh: "杭州银行",
};

/// Issuer BINs of the large Chinese banks (longest prefix wins). Networks without an issuer
/// here are recognised from the network ranges below.
const ISSUER_BINS: &[(&str, Issuer, Network, CardKind)] = &[
    ("622202", ICBC, Network::UnionPay, CardKind::Debit),
    ("622208", ICBC, Network::UnionPay, CardKind::Debit),
    ("621226", ICBC, Network::UnionPay, CardKind::Debit),
    ("625330", ICBC, Network::UnionPay, CardKind::Credit),
    ("621700", CCB, Network::UnionPay, CardKind::Debit),
    ("622700", CCB, Network::UnionPay, CardKind::Debit),
    ("436742", CCB, Network::Visa, CardKind::Debit),
    ("622848", ABC, Network::UnionPay, CardKind::Debit),
    ("622845", ABC, Network::UnionPay, CardKind::Debit),
    ("95599", ABC, Network::UnionPay, CardKind::Debit),
    ("621661", BOC, Network::UnionPay, CardKind::Debit),
    ("621663", BOC, Network::UnionPay, CardKind::Debit),
    ("601382", BOC, Network::UnionPay, CardKind::Debit),
    ("456351", BOC, Network::Visa, CardKind::Debit),
    ("622260", BOCOM, Network::UnionPay, CardKind::Debit),
    ("622262", BOCOM, Network::UnionPay, CardKind::Debit),
    ("601428", BOCOM, Network::UnionPay, CardKind::Debit),
    ("621483", CMB, Network::UnionPay, CardKind::Debit),
    ("621286", CMB, Network::UnionPay, CardKind::Debit),
    ("622588", CMB, Network::UnionPay, CardKind::Credit),
    ("439225", CMB, Network::Visa, CardKind::Credit),
    ("621799", PSBC, Network::UnionPay, CardKind::Debit),
    ("622188", PSBC, Network::UnionPay, CardKind::Debit),
    ("622690", CITIC, Network::UnionPay, CardKind::Debit),
    ("622521", SPDB, Network::UnionPay, CardKind::Debit),
    ("621977", HZB, Network::UnionPay, CardKind::Debit),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CardError {
    /// Not 13 to 19 digits (spaces aside).
    Syntax,
    /// The Luhn check digit does not match: a typo.
    Luhn,
    /// A network the platform does not accept.
    UnknownNetwork,
}

impl CardError {
    pub fn code(self) -> &'static str {
        match self {
            CardError::Syntax => "card_number_syntax",
            CardError::Luhn => "card_number_luhn",
            CardError::UnknownNetwork => "card_network_unsupported",
        }
    }
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CardError::Syntax => "a card number has 13 to 19 digits",
            CardError::Luhn => "the card number is not valid: please check for a typo",
            CardError::UnknownNetwork => {
                "only UnionPay, Visa, Mastercard, JCB and American Express cards are accepted"
            }
        })
    }
}

impl std::error::Error for CardError {}

/// A full card number (PAN). Never logged, never returned: `Debug` and `Display` show only the
/// last four digits.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber {
    digits: String,
    bin: BinInfo,
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(**** {})", self.last4())
    }
}

impl CardNumber {
    pub fn parse(text: &str) -> Result<CardNumber, CardError> {
        let digits: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if !(13..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::Syntax);
        }
        if !luhn_valid(&digits) {
            return Err(CardError::Luhn);
        }
        let bin = bin_info(&digits).ok_or(CardError::UnknownNetwork)?;
        Ok(CardNumber { digits, bin })
    }

    pub fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }

    pub fn bin(&self) -> BinInfo {
        self.bin
    }

    /// The digits, for handing to the bank only.
    pub fn expose(&self) -> &str {
        &self.digits
    }
}

/// The Luhn (mod 10) check over all digits, check digit last.
pub fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(position, byte)| {
            let digit = u32::from(byte - b'0');
            if position % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The check digit that makes `partial` + digit pass Luhn.
pub fn luhn_check_digit(partial: &str) -> char {
    (b'0'..=b'9')
        .map(char::from)
        .find(|digit| luhn_valid(&format!("{partial}{digit}")))
        .unwrap_or('0')
}

fn bin_info(digits: &str) -> Option<BinInfo> {
    let issuer = ISSUER_BINS
        .iter()
        .filter(|(prefix, ..)| digits.starts_with(prefix))
        .max_by_key(|(prefix, ..)| prefix.len());
    if let Some((_, issuer, network, kind)) = issuer {
        return Some(BinInfo {
            network: *network,
            kind: *kind,
            issuer: Some(*issuer),
        });
    }
    let prefix = |n: usize| digits[..n].parse::<u32>().unwrap_or(0);
    let network = if digits.starts_with("62") || digits.starts_with("81") {
        Network::UnionPay
    } else if digits.starts_with('4') {
        Network::Visa
    } else if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) {
        Network::Mastercard
    } else if (3528..=3589).contains(&prefix(4)) {
        Network::Jcb
    } else if digits.starts_with("34") || digits.starts_with("37") {
        Network::Amex
    } else {
        return None;
    };
    Some(BinInfo {
        network,
        kind: CardKind::Credit,
        issuer: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(partial: &str) -> String {
        format!("{partial}{}", luhn_check_digit(partial))
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("5555555555554444"));
        assert!(!luhn_valid("4111111111111112"));
        assert_eq!(
            CardNumber::parse("4111 1111 1111 1112"),
            Err(CardError::Luhn)
        );
        assert_eq!(CardNumber::parse("4111"), Err(CardError::Syntax));
        assert_eq!(
            CardNumber::parse("4111x11111111111"),
            Err(CardError::Syntax)
        );
    }

    #[test]
    fn issuers_from_the_bin() {
        let icbc = CardNumber::parse(&valid("622202123456789012")).unwrap();
        assert_eq!(icbc.bin().issuer.map(|i| i.code), Some("icbc"));
        assert_eq!(icbc.bin().network, Network::UnionPay);
        assert_eq!(icbc.bin().kind, CardKind::Debit);
        let abc = CardNumber::parse(&valid("955991234567890123")).unwrap();
        assert_eq!(abc.bin().issuer.map(|i| i.name_zh), Some("中国农业银行"));
        let visa = CardNumber::parse("4111111111111111").unwrap();
        assert_eq!(
            (visa.bin().network, visa.bin().issuer),
            (Network::Visa, None)
        );
        let mastercard = CardNumber::parse("2221000000000009").unwrap();
        assert_eq!(mastercard.bin().network, Network::Mastercard);
        assert_eq!(
            CardNumber::parse(&valid("900000000000000")),
            Err(CardError::UnknownNetwork)
        );
        assert_eq!(format!("{visa:?}"), "CardNumber(**** 1111)");
    }
}
