//! The 46 Missouri judicial circuits, built in as CaseNet courts CT01..CT46, all taking part
//! in the Missouri Court Automation Program. Demo data and fresh databases start from these.

/// A circuit: its number and the counties it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Circuit {
    pub number: u8,
    pub counties: &'static [&'static str],
}

impl Circuit {
    /// The CaseNet court id, `CT01` to `CT46`.
    pub fn court_id(&self) -> String {
        format!("CT{:02}", self.number)
    }

    /// A human name such as `16th Judicial Circuit (Jackson)`.
    pub fn court_name(&self) -> String {
        let suffix = match (self.number % 10, self.number % 100) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        format!(
            "{}{} Judicial Circuit ({})",
            self.number,
            suffix,
            self.counties.join(", ")
        )
    }
}

/// All circuits in number order.
pub const CIRCUITS: [Circuit; 46] = [
    Circuit {
        number: 1,
        counties: &["Clark", "Schuyler", "Scotland"],
    },
    Circuit {
        number: 2,
        counties: &["Adair", "Knox", "Lewis"],
    },
    Circuit {
        number: 3,
        counties: &["Grundy", "Harrison", "Mercer", "Putnam"],
    },
    Circuit {
        number: 4,
        counties: &["Atchison", "Gentry", "Holt", "Nodaway", "Worth"],
    },
    Circuit {
        number: 5,
        counties: &["Andrew", "Buchanan"],
    },
    Circuit {
        number: 6,
        counties: &["Platte"],
    },
    Circuit {
        number: 7,
        counties: &["Clay"],
    },
    Circuit {
        number: 8,
        counties: &["Carroll", "Ray"],
    },
    Circuit {
        number: 9,
        counties: &["Sullivan", "Linn", "Chariton"],
    },
    Circuit {
        number: 10,
        counties: &["Marion", "Monroe", "Ralls"],
    },
    Circuit {
        number: 11,
        counties: &["St. Charles"],
    },
    Circuit {
        number: 12,
        counties: &["Audrain", "Montgomery", "Warren"],
    },
    Circuit {
        number: 13,
        counties: &["Boone", "Callaway"],
    },
    Circuit {
        number: 14,
        counties: &["Randolph", "Howard"],
    },
    Circuit {
        number: 15,
        counties: &["Saline", "Lafayette"],
    },
    Circuit {
        number: 16,
        counties: &["Jackson"],
    },
    Circuit {
        number: 17,
        counties: &["Cass", "Johnson"],
    },
    Circuit {
        number: 18,
        counties: &["Cooper", "Pettis"],
    },
    Circuit {
        number: 19,
        counties: &["Cole"],
    },
    Circuit {
        number: 20,
        counties: &["Franklin", "Gasconade", "Osage"],
    },
    Circuit {
        number: 21,
        counties: &["St. Louis"],
    },
    Circuit {
        number: 22,
        counties: &["City of St. Louis"],
    },
    Circuit {
        number: 23,
        counties: &["Jefferson"],
    },
    Circuit {
        number: 24,
        counties: &["Madison", "Ste. Genevieve", "St. Francois", "Washington"],
    },
    Circuit {
        number: 25,
        counties: &["Maries", "Phelps", "Pulaski", "Texas"],
    },
    Circuit {
        number: 26,
        counties: &["Camden", "Laclede", "Miller", "Morgan", "Moniteau"],
    },
    Circuit {
        number: 27,
        counties: &["Bates", "Henry", "St. Clair", "Benton"],
    },
    Circuit {
        number: 28,
        counties: &["Barton", "Cedar", "Dade", "Vernon"],
    },
    Circuit {
        number: 29,
        counties: &["Jasper"],
    },
    Circuit {
        number: 30,
        counties: &["Dallas", "Hickory", "Polk", "Webster"],
    },
    Circuit {
        number: 31,
        counties: &["Greene"],
    },
    Circuit {
        number: 32,
        counties: &["Bollinger", "Cape Girardeau", "Perry"],
    },
    Circuit {
        number: 33,
        counties: &["Mississippi", "Scott"],
    },
    Circuit {
        number: 34,
        counties: &["New Madrid", "Pemiscot"],
    },
    Circuit {
        number: 35,
        counties: &["Dunklin", "Stoddard"],
    },
    Circuit {
        number: 36,
        counties: &["Butler", "Ripley"],
    },
    Circuit {
        number: 37,
        counties: &["Carter", "Howell", "Oregon", "Shannon"],
    },
    Circuit {
        number: 38,
        counties: &["Christian"],
    },
    Circuit {
        number: 39,
        counties: &["Barry", "Lawrence", "Stone"],
    },
    Circuit {
        number: 40,
        counties: &["Newton", "McDonald"],
    },
    Circuit {
        number: 41,
        counties: &["Macon", "Shelby"],
    },
    Circuit {
        number: 42,
        counties: &["Dent", "Crawford", "Iron", "Reynolds", "Wayne"],
    },
    Circuit {
        number: 43,
        counties: &["DeKalb", "Daviess", "Clinton", "Caldwell", "Livingston"],
    },
    Circuit {
        number: 44,
        counties: &["Douglas", "Ozark", "Wright"],
    },
    Circuit {
        number: 45,
        counties: &["Lincoln", "Pike"],
    },
    Circuit {
        number: 46,
        counties: &["Taney"],
    },
];
