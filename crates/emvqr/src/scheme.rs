//! Naming the payment scheme behind a merchant account, and the national deviations from
//! EMVCo's mandatory fields that some schemes publish.

use serde::Serialize;

/// The globally unique identifier of our own codes in their merchant account template.
pub const CASHLESS_GUI: &str = "com.cashless";

/// A payment scheme recognised from a template GUI or a root primitive id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Scheme {
    /// Our own codes, GUI [`CASHLESS_GUI`].
    Cashless,
    /// Brazil, GUI "br.gov.bcb.pix".
    Pix,
    /// Thailand, AIDs A000000677010111 (credit transfer) and A000000677010112 (bill payment).
    PromptPay,
    /// Singapore, GUI "SG.PAYNOW".
    PayNow,
    /// Singapore's SGQR identity template, GUI "SG.SGQR".
    Sgqr,
    /// Singapore, GUI "SG.COM.NETS".
    Nets,
    /// Malaysia, AID A0000006150001.
    DuitNow,
    /// Vietnam NAPAS 247, AID A000000727.
    VietQr,
    /// Vietnam, AID A000000775.
    VnPay,
    /// Indonesia's national repository, GUI "ID.CO.QRIS.WWW".
    Qris,
    /// China UnionPay: AIDs D156000000xx, root primitives 15-16.
    UnionPay,
    /// India (NPCI), AID A000000524.
    Upi,
    /// GUI "COM.QQ.WEIXIN.PAY".
    WeChatPay,
    /// GUI "COM.GRAB".
    GrabPay,
    /// Root primitives 02-03.
    Visa,
    /// Root primitives 04-05.
    Mastercard,
    /// Root primitives 09-10.
    Discover,
    /// Root primitives 11-12.
    Amex,
    /// Root primitives 13-14.
    Jcb,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Self::Cashless => "Cashless",
            Self::Pix => "Pix",
            Self::PromptPay => "PromptPay",
            Self::PayNow => "PayNow",
            Self::Sgqr => "SGQR",
            Self::Nets => "NETS",
            Self::DuitNow => "DuitNow",
            Self::VietQr => "VietQR",
            Self::VnPay => "VNPAY-QR",
            Self::Qris => "QRIS",
            Self::UnionPay => "UnionPay",
            Self::Upi => "UPI",
            Self::WeChatPay => "WeChat Pay",
            Self::GrabPay => "GrabPay",
            Self::Visa => "Visa",
            Self::Mastercard => "Mastercard",
            Self::Discover => "Discover",
            Self::Amex => "American Express",
            Self::Jcb => "JCB",
        }
    }

    /// Mandatory root fields this scheme's published codes leave out.
    pub(crate) fn omissions(self) -> Omissions {
        match self {
            // Personal transfer codes (PromptPay AnyID, VietQR to an account) carry no
            // merchant, so no category, name or city.
            Self::PromptPay | Self::VietQr => Omissions {
                category_code: true,
                name_and_city: true,
            },
            // QRIS generators in the wild leave out the MCC.
            Self::Qris => Omissions {
                category_code: true,
                name_and_city: false,
            },
            _ => Omissions::default(),
        }
    }
}

/// Which EMVCo-mandatory root fields may be absent (the union over a code's schemes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Omissions {
    /// ID 52.
    pub category_code: bool,
    /// IDs 59 and 60.
    pub name_and_city: bool,
}

impl Omissions {
    pub fn union(self, other: Self) -> Self {
        Self {
            category_code: self.category_code || other.category_code,
            name_and_city: self.name_and_city || other.name_and_city,
        }
    }
}

/// The scheme behind a template GUI (sub-field 00 of 26-51), compared case-insensitively
/// because issuers write both "br.gov.bcb.pix" and "BR.GOV.BCB.PIX".
pub fn scheme_for_gui(gui: &str) -> Option<Scheme> {
    let gui = gui.to_ascii_uppercase();
    let scheme = match gui.as_str() {
        "BR.GOV.BCB.PIX" => Scheme::Pix,
        "A000000677010111" | "A000000677010112" => Scheme::PromptPay,
        "SG.PAYNOW" => Scheme::PayNow,
        "SG.SGQR" => Scheme::Sgqr,
        "SG.COM.NETS" => Scheme::Nets,
        "A0000006150001" => Scheme::DuitNow,
        "A000000727" => Scheme::VietQr,
        "A000000775" => Scheme::VnPay,
        "ID.CO.QRIS.WWW" => Scheme::Qris,
        "A000000524" => Scheme::Upi,
        "COM.QQ.WEIXIN.PAY" => Scheme::WeChatPay,
        "COM.GRAB" => Scheme::GrabPay,
        // UnionPay's RID D156000000 followed by a 2-digit application suffix (EMVCo Annex B).
        other if other.starts_with("D156000000") => Scheme::UnionPay,
        other if other.eq_ignore_ascii_case(CASHLESS_GUI) => Scheme::Cashless,
        _ => return None,
    };
    Some(scheme)
}

/// The network that EMVCo Table 4.1 reserves a root primitive id (02-25) for.
pub fn scheme_for_network_id(id: u8) -> Option<Scheme> {
    match id {
        2 | 3 => Some(Scheme::Visa),
        4 | 5 => Some(Scheme::Mastercard),
        9 | 10 => Some(Scheme::Discover),
        11 | 12 => Some(Scheme::Amex),
        13 | 14 => Some(Scheme::Jcb),
        15 | 16 => Some(Scheme::UnionPay),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guis() {
        assert_eq!(scheme_for_gui("br.gov.bcb.pix"), Some(Scheme::Pix));
        assert_eq!(scheme_for_gui("BR.GOV.BCB.PIX"), Some(Scheme::Pix));
        assert_eq!(scheme_for_gui("A000000677010112"), Some(Scheme::PromptPay));
        assert_eq!(scheme_for_gui("D15600000001"), Some(Scheme::UnionPay));
        assert_eq!(scheme_for_gui("com.cashless"), Some(Scheme::Cashless));
        assert_eq!(scheme_for_gui("COM.CASHLESS"), Some(Scheme::Cashless));
        assert_eq!(scheme_for_gui("com.example"), None);
        assert_eq!(scheme_for_network_id(15), Some(Scheme::UnionPay));
        assert_eq!(scheme_for_network_id(8), None);
    }
}
