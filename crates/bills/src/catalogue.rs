//! The city-services catalogue: 9 categories and 58 service types, each named in Chinese and
//! English. This is the seed an operator's editable table starts from; which billers serve a
//! type is said per city, elsewhere.

/// A group of services on the wallet's Bills & city services page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Category {
    /// Stable, lower-case, for URLs and the API (`living`, `medical` …).
    pub id: &'static str,
    pub name_en: &'static str,
    pub name_zh: &'static str,
}

/// One kind of thing to pay or book (`water`, `traffic_fines`, `hospital_registration` …).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ServiceType {
    /// Stable, lower-case, unique across the catalogue.
    pub id: &'static str,
    /// The [`Category::id`] it belongs to.
    pub category: &'static str,
    pub name_en: &'static str,
    pub name_zh: &'static str,
}

macro_rules! categories {
    ($($id:literal, $en:literal, $zh:literal;)*) => {
        &[$(Category { id: $id, name_en: $en, name_zh: $zh }),*]
    };
}

macro_rules! service_types {
    ($($category:literal => [$($id:literal, $en:literal, $zh:literal;)*])*) => {
        &[$($(ServiceType { id: $id, category: $category, name_en: $en, name_zh: $zh }),*),*]
    };
}

/// The categories, in the order the wallet shows them.
pub const CATEGORIES: &[Category] = categories! {
    "living", "Living expenses", "生活缴费";
    "car_owners", "Car owners", "车主服务";
    "traffic", "Getting around", "交通出行";
    "medical", "Medical services", "医疗服务";
    "government", "Government affairs", "政务办事";
    "education", "Education", "教育服务";
    "public_security", "Public security", "公安服务";
    "culture", "Culture and leisure", "文化娱乐";
    "charity", "Charity", "公益慈善";
};

/// Every service type, grouped by category in [`CATEGORIES`] order.
pub const SERVICE_TYPES: &[ServiceType] = service_types! {
    "living" => [
        "water", "Water", "水费";
        "electricity", "Electricity", "电费";
        "gas", "Gas", "燃气费";
        "heating", "Heating", "供暖费";
        "broadband", "Broadband", "宽带费";
        "mobile_top_up", "Mobile top-up", "话费充值";
        "property_fees", "Property fees", "物业费";
        "cable_tv", "Cable TV", "有线电视费";
        "waste_collection", "Waste collection", "垃圾处理费";
    ]
    "car_owners" => [
        "traffic_fines", "Traffic fines", "交通违法罚款";
        "parking", "Parking", "停车费";
        "tolls", "Road tolls", "高速通行费";
        "vehicle_tax", "Vehicle and vessel tax", "车船税";
        "inspection_booking", "Vehicle inspection booking", "机动车年检预约";
        "driving_licence", "Driving licence renewal", "驾驶证换证";
        "ev_charging", "EV charging", "电动汽车充电";
    ]
    "traffic" => [
        "transit_card", "Bus and metro card", "公交地铁卡充值";
        "taxi", "Taxi", "出租车";
        "rail_tickets", "Rail tickets", "火车票";
        "coach_tickets", "Coach tickets", "长途汽车票";
        "ferry", "Ferry", "轮渡";
        "bike_sharing", "Shared bikes", "共享单车";
        "airport_shuttle", "Airport shuttle", "机场巴士";
    ]
    "medical" => [
        "hospital_registration", "Hospital registration", "预约挂号";
        "clinic_bills", "Clinic bills", "门诊缴费";
        "pharmacy", "Pharmacy", "药店购药";
        "medical_insurance", "Medical insurance", "医保缴费";
        "physical_exam", "Physical examination", "体检预约";
        "vaccination", "Vaccination booking", "疫苗预约";
        "inpatient_deposit", "Inpatient deposit", "住院押金";
    ]
    "government" => [
        "id_card", "ID card fees", "身份证办理";
        "passport", "Passport fees", "护照办理";
        "certificates", "Certificates", "证明开具";
        "social_insurance", "Social insurance", "社保缴费";
        "housing_fund", "Housing fund", "公积金";
        "individual_tax", "Individual income tax", "个人所得税";
        "household_registration", "Household registration", "户籍办理";
    ]
    "education" => [
        "tuition", "Tuition", "学费";
        "exam_fees", "Exam fees", "考试报名费";
        "school_meals", "School meals", "校园餐费";
        "kindergarten", "Kindergarten fees", "幼儿园费用";
        "library", "Library", "图书馆";
        "vocational_training", "Vocational training", "职业培训";
    ]
    "public_security" => [
        "residence_permit", "Residence permit", "居住证";
        "exit_entry", "Exit and entry endorsements", "出入境签注";
        "no_criminal_record", "No-criminal-record certificate", "无犯罪记录证明";
        "lost_and_found", "Lost and found", "失物招领";
        "fire_safety", "Fire safety inspection", "消防检查";
    ]
    "culture" => [
        "cinema", "Cinema", "电影票";
        "museums", "Museum booking", "博物馆预约";
        "scenic_spots", "Scenic spot tickets", "景区门票";
        "theatre", "Theatre and concerts", "演出票";
        "sports_venues", "Sports venues", "体育场馆";
    ]
    "charity" => [
        "donation", "Donations", "公益捐款";
        "disaster_relief", "Disaster relief", "灾害救助";
        "blood_donation", "Blood donation booking", "献血预约";
        "volunteering", "Volunteering", "志愿服务";
        "community_fund", "Community fund", "社区基金";
    ]
};

/// A category by id.
pub fn category(id: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|category| category.id == id)
}

/// A service type by id.
pub fn service_type(id: &str) -> Option<&'static ServiceType> {
    SERVICE_TYPES.iter().find(|service| service.id == id)
}

/// The service types of a category, in catalogue order.
pub fn service_types_of(category: &str) -> impl Iterator<Item = &'static ServiceType> + '_ {
    SERVICE_TYPES
        .iter()
        .filter(move |service| service.category == category)
}

/// The service types whose name (either language) or id contains `query`, ignoring case and
/// surrounding blanks; an empty query finds nothing. "water", "Water", "水" and "水费" all find
/// water; "fine" finds traffic fines.
pub fn search(query: &str) -> Vec<&'static ServiceType> {
    let query = query.trim().to_lowercase();
    if query.is_empty() {
        return Vec::new();
    }
    SERVICE_TYPES
        .iter()
        .filter(|service| {
            service.name_en.to_lowercase().contains(&query)
                || service.name_zh.contains(&query)
                || service.id.contains(&query)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn nine_categories_and_fifty_eight_service_types_each_named_twice() {
        assert_eq!(CATEGORIES.len(), 9);
        assert_eq!(SERVICE_TYPES.len(), 58);
        let ids: HashSet<&str> = SERVICE_TYPES.iter().map(|service| service.id).collect();
        assert_eq!(
            ids.len(),
            SERVICE_TYPES.len(),
            "service type ids are unique"
        );
        for category in CATEGORIES {
            assert!(
                service_types_of(category.id).count() >= 4,
                "{}",
                category.id
            );
            assert!(!category.name_en.is_empty() && !category.name_zh.is_empty());
        }
        for service in SERVICE_TYPES {
            assert!(category(service.category).is_some(), "{}", service.id);
            assert!(!service.name_en.is_empty() && !service.name_zh.is_empty());
            assert!(
                service
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                service.id
            );
            assert!(
                !service.name_zh.is_ascii(),
                "{} has a Chinese name",
                service.id
            );
        }
        // The groups the brief names are there.
        for id in [
            "water",
            "electricity",
            "traffic_fines",
            "hospital_registration",
            "cinema",
        ] {
            assert!(service_type(id).is_some(), "{id}");
        }
    }

    #[test]
    fn search_finds_in_either_language() {
        let ids = |query| {
            search(query)
                .iter()
                .map(|service| service.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("water"), ["water"]);
        assert_eq!(ids("  WATER "), ["water"]);
        assert_eq!(ids("水费"), ["water"]);
        assert_eq!(ids("罚款"), ["traffic_fines"]);
        assert_eq!(ids("fine"), ["traffic_fines"]);
        assert!(ids("挂号").contains(&"hospital_registration"));
        assert!(ids("").is_empty());
        assert!(ids("no such service").is_empty());
    }
}
