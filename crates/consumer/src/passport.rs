//! Passports of foreign visitors: issuing country (ISO 3166-1 alpha-3), number, nationality,
//! name and date of birth.

use std::fmt;

use crate::date::Date;

/// A passport as entered by its holder, checked for shape.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Passport {
    pub country: String,
    pub number: String,
    pub nationality: String,
    pub date_of_birth: Date,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PassportError {
    Country,
    Nationality,
    Number,
    DateOfBirth,
    /// Mainland Chinese citizens verify with their resident ID card.
    ChinesePassport,
}

impl PassportError {
    pub fn code(self) -> &'static str {
        match self {
            PassportError::Country => "passport_country",
            PassportError::Nationality => "passport_nationality",
            PassportError::Number => "passport_number",
            PassportError::DateOfBirth => "passport_date_of_birth",
            PassportError::ChinesePassport => "passport_use_resident_id",
        }
    }
}

impl fmt::Display for PassportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PassportError::Country => {
                "the issuing country must be an ISO 3166 three-letter code, e.g. GBR, USA, DEU"
            }
            PassportError::Nationality => {
                "the nationality must be an ISO 3166 three-letter code, e.g. GBR"
            }
            PassportError::Number => "a passport number has 5 to 20 letters and digits",
            PassportError::DateOfBirth => "the date of birth must be a past date like 1990-03-07",
            PassportError::ChinesePassport => {
                "citizens of the mainland verify with their resident ID card"
            }
        })
    }
}

impl std::error::Error for PassportError {}

impl Passport {
    pub fn parse(
        country: &str,
        number: &str,
        nationality: &str,
        date_of_birth: &str,
        today: Date,
    ) -> Result<Passport, PassportError> {
        let country = country.trim().to_ascii_uppercase();
        let nationality = nationality.trim().to_ascii_uppercase();
        if !is_country(&country) {
            return Err(PassportError::Country);
        }
        if !is_country(&nationality) {
            return Err(PassportError::Nationality);
        }
        if country == "CHN" && nationality == "CHN" {
            return Err(PassportError::ChinesePassport);
        }
        let number = number.trim().to_ascii_uppercase();
        if !(5..=20).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(PassportError::Number);
        }
        let date_of_birth = Date::parse_iso(date_of_birth.trim())
            .filter(|date| date.year() >= 1900 && *date <= today)
            .ok_or(PassportError::DateOfBirth)?;
        Ok(Passport {
            country,
            number,
            nationality,
            date_of_birth,
        })
    }

    /// For screens: the country and the last three characters (`GBR ******789`).
    pub fn masked(&self) -> String {
        let n = &self.number;
        let keep = n.len().min(3);
        format!(
            "{} {}{}",
            self.country,
            "*".repeat(n.len() - keep),
            &n[n.len() - keep..]
        )
    }
}

pub fn is_country(code: &str) -> bool {
    COUNTRIES.contains(&code)
}

/// ISO 3166-1 alpha-3 codes, plus the travel-document codes of ICAO Doc 9303 that appear on
/// passports (D for Germany is written DEU; UNO, XXA, XXB, XXC, XXX for UN and stateless).
const COUNTRIES: &[&str] = &[
    "ABW", "AFG", "AGO", "AIA", "ALA", "ALB", "AND", "ARE", "ARG", "ARM", "ASM", "ATA", "ATF",
    "ATG", "AUS", "AUT", "AZE", "BDI", "BEL", "BEN", "BES", "BFA", "BGD", "BGR", "BHR", "BHS",
    "BIH", "BLM", "BLR", "BLZ", "BMU", "BOL", "BRA", "BRB", "BRN", "BTN", "BVT", "BWA", "CAF",
    "CAN", "CCK", "CHE", "CHL", "CHN", "CIV", "CMR", "COD", "COG", "COK", "COL", "COM", "CPV",
    "CRI", "CUB", "CUW", "CXR", "CYM", "CYP", "CZE", "DEU", "DJI", "DMA", "DNK", "DOM", "DZA",
    "ECU", "EGY", "ERI", "ESH", "ESP", "EST", "ETH", "FIN", "FJI", "FLK", "FRA", "FRO", "FSM",
    "GAB", "GBR", "GEO", "GGY", "GHA", "GIB", "GIN", "GLP", "GMB", "GNB", "GNQ", "GRC", "GRD",
    "GRL", "GTM", "GUF", "GUM", "GUY", "HKG", "HMD", "HND", "HRV", "HTI", "HUN", "IDN", "IMN",
    "IND", "IOT", "IRL", "IRN", "IRQ", "ISL", "ISR", "ITA", "JAM", "JEY", "JOR", "JPN", "KAZ",
    "KEN", "KGZ", "KHM", "KIR", "KNA", "KOR", "KWT", "LAO", "LBN", "LBR", "LBY", "LCA", "LIE",
    "LKA", "LSO", "LTU", "LUX", "LVA", "MAC", "MAF", "MAR", "MCO", "MDA", "MDG", "MDV", "MEX",
    "MHL", "MKD", "MLI", "MLT", "MMR", "MNE", "MNG", "MNP", "MOZ", "MRT", "MSR", "MTQ", "MUS",
    "MWI", "MYS", "MYT", "NAM", "NCL", "NER", "NFK", "NGA", "NIC", "NIU", "NLD", "NOR", "NPL",
    "NRU", "NZL", "OMN", "PAK", "PAN", "PCN", "PER", "PHL", "PLW", "PNG", "POL", "PRI", "PRK",
    "PRT", "PRY", "PSE", "PYF", "QAT", "REU", "ROU", "RUS", "RWA", "SAU", "SDN", "SEN", "SGP",
    "SGS", "SHN", "SJM", "SLB", "SLE", "SLV", "SMR", "SOM", "SPM", "SRB", "SSD", "STP", "SUR",
    "SVK", "SVN", "SWE", "SWZ", "SXM", "SYC", "SYR", "TCA", "TCD", "TGO", "THA", "TJK", "TKL",
    "TKM", "TLS", "TON", "TTO", "TUN", "TUR", "TUV", "TWN", "TZA", "UGA", "UKR", "UMI", "URY",
    "USA", "UZB", "VAT", "VCT", "VEN", "VGB", "VIR", "VNM", "VUT", "WLF", "WSM", "YEM", "ZAF",
    "ZMB", "ZWE", "UNO", "UNA", "UNK", "XXA", "XXB", "XXC", "XXX",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::new(2026, 11, 24).unwrap()
    }

    #[test]
    fn accepts_a_visitors_passport() {
        let passport = Passport::parse("gbr", "123456789", "GBR", "1990-03-07", today()).unwrap();
        assert_eq!(passport.country, "GBR");
        assert_eq!(passport.masked(), "GBR ******789");
    }

    #[test]
    fn rejects_bad_fields() {
        let t = today();
        assert_eq!(
            Passport::parse("XYZ", "123456789", "GBR", "1990-03-07", t),
            Err(PassportError::Country)
        );
        assert_eq!(
            Passport::parse("GB", "123456789", "GBR", "1990-03-07", t),
            Err(PassportError::Country)
        );
        assert_eq!(
            Passport::parse("GBR", "123456789", "GRB", "1990-03-07", t),
            Err(PassportError::Nationality)
        );
        assert_eq!(
            Passport::parse("GBR", "12-34", "GBR", "1990-03-07", t),
            Err(PassportError::Number)
        );
        assert_eq!(
            Passport::parse("GBR", "123456789", "GBR", "1990-02-30", t),
            Err(PassportError::DateOfBirth)
        );
        assert_eq!(
            Passport::parse("GBR", "123456789", "GBR", "2027-01-01", t),
            Err(PassportError::DateOfBirth)
        );
        assert_eq!(
            Passport::parse("CHN", "E12345678", "CHN", "1990-03-07", t),
            Err(PassportError::ChinesePassport)
        );
        assert!(
            COUNTRIES.windows(2).take(246).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
    }
}
