//! What happened to one record: its evaluations in plugin order, or why it could not be
//! read; and the names results files give those outcomes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ingest::RecordError;
use crate::ingest::record::{CodingOrigin, SourceLocation};
use crate::plugin::Outcome;
use crate::wit::Sex;

/// Everything that happened to one record.
#[derive(Debug)]
pub struct RecordOutcome {
    /// Position of the record in the source (0-based), the order results are reported in.
    pub seq: u64,
    /// The record's key and where it came from, or why it could not be read.
    pub record: Result<(String, SourceLocation), RecordError>,
    /// One outcome per plugin, in plugin order; empty when the record could not be read.
    pub evaluations: Vec<Outcome>,
    /// Per plugin, in plugin order: what its needs could not reach in this record.
    pub coverage: Vec<crate::ingest::record::Coverage>,
    /// Who the patient is in a trial's subgroups; `None` when the record could not be read.
    pub profile: Option<RecordProfile>,
}

/// The patient attributes a trial breaks effectiveness down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordProfile {
    pub age_years: u8,
    pub sex: Sex,
    pub coding: CodingOrigin,
}

/// What became of one evaluation, or of a record that could not be read, as `results.jsonl`
/// and `results.csv` name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The plugin returned cards (perhaps none).
    #[default]
    Ok,
    /// The evaluation failed; its [`Cause`] says why.
    Error,
    /// The record could not be read, so no plugin saw it.
    RecordError,
}

/// Why a record produced no evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordCause {
    UnreadableRecord,
}

/// An age band of the trial's subgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AgeBand {
    #[serde(rename = "0-17")]
    Under18,
    #[serde(rename = "18-39")]
    From18To39,
    #[serde(rename = "40-64")]
    From40To64,
    #[serde(rename = "65-74")]
    From65To74,
    #[serde(rename = "75+")]
    From75,
}

impl AgeBand {
    pub const ALL: [AgeBand; 5] = [
        AgeBand::Under18,
        AgeBand::From18To39,
        AgeBand::From40To64,
        AgeBand::From65To74,
        AgeBand::From75,
    ];

    pub fn of(age_years: u8) -> AgeBand {
        match age_years {
            0..=17 => AgeBand::Under18,
            18..=39 => AgeBand::From18To39,
            40..=64 => AgeBand::From40To64,
            65..=74 => AgeBand::From65To74,
            _ => AgeBand::From75,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AgeBand::Under18 => "0-17",
            AgeBand::From18To39 => "18-39",
            AgeBand::From40To64 => "40-64",
            AgeBand::From65To74 => "65-74",
            AgeBand::From75 => "75+",
        }
    }
}

/// A patient's administrative sex as the trial's subgroups name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SexGroup {
    Female,
    Male,
    Other,
    Unknown,
}

impl SexGroup {
    pub const ALL: [SexGroup; 4] = [
        SexGroup::Female,
        SexGroup::Male,
        SexGroup::Other,
        SexGroup::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SexGroup::Female => "female",
            SexGroup::Male => "male",
            SexGroup::Other => "other",
            SexGroup::Unknown => "unknown",
        }
    }
}

impl From<Sex> for SexGroup {
    fn from(sex: Sex) -> SexGroup {
        match sex {
            Sex::Female => SexGroup::Female,
            Sex::Male => SexGroup::Male,
            Sex::Other => SexGroup::Other,
            Sex::Unknown => SexGroup::Unknown,
        }
    }
}

/// The dimensions a trial breaks effectiveness down by, in the order a report shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Sex,
    Age,
    Coding,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Sex => "sex",
            Dimension::Age => "age",
            Dimension::Coding => "coding",
        }
    }
}

/// One subgroup: a dimension and its value. As JSON it is `{"dimension": "sex", "value":
/// "female"}`; where it keys a map or fills a list it is written `sex=female` (see
/// [`subgroup_keys`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "dimension", content = "value", rename_all = "lowercase")]
pub enum Subgroup {
    Sex(SexGroup),
    Age(AgeBand),
    Coding(CodingOrigin),
}

impl Subgroup {
    pub fn dimension(self) -> Dimension {
        match self {
            Subgroup::Sex(_) => Dimension::Sex,
            Subgroup::Age(_) => Dimension::Age,
            Subgroup::Coding(_) => Dimension::Coding,
        }
    }

    pub fn value(self) -> &'static str {
        match self {
            Subgroup::Sex(s) => s.as_str(),
            Subgroup::Age(a) => a.as_str(),
            Subgroup::Coding(c) => c.as_str(),
        }
    }
}

/// Ordered by the names (dimension, then value), as `sex=female` strings sort: the order in
/// which summaries list subgroups.
impl Ord for Subgroup {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.dimension().as_str(), self.value()).cmp(&(other.dimension().as_str(), other.value()))
    }
}

impl PartialOrd for Subgroup {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Subgroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.dimension().as_str(), self.value())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a subgroup (sex=…, age=… or coding=…)")]
pub struct SubgroupError(String);

impl FromStr for Subgroup {
    type Err = SubgroupError;
    fn from_str(s: &str) -> Result<Subgroup, SubgroupError> {
        let bad = || SubgroupError(s.to_owned());
        let (dimension, value) = s.split_once('=').ok_or_else(bad)?;
        let candidates: Vec<Subgroup> = match dimension {
            "sex" => SexGroup::ALL.into_iter().map(Subgroup::Sex).collect(),
            "age" => AgeBand::ALL.into_iter().map(Subgroup::Age).collect(),
            "coding" => CodingOrigin::ALL
                .into_iter()
                .map(Subgroup::Coding)
                .collect(),
            _ => Vec::new(),
        };
        candidates
            .into_iter()
            .find(|g| g.value() == value)
            .ok_or_else(bad)
    }
}

impl RecordProfile {
    /// The subgroups this patient belongs to, one per dimension.
    pub fn subgroups(&self) -> [Subgroup; 3] {
        [
            Subgroup::Sex(self.sex.into()),
            Subgroup::Age(AgeBand::of(self.age_years)),
            Subgroup::Coding(self.coding),
        ]
    }
}

/// Serde for subgroups where they key a map or fill a list: `sex=female`.
pub mod subgroup_keys {
    use std::collections::BTreeMap;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Subgroup;

    pub fn serialize<S: Serializer, V: Serialize>(
        map: &BTreeMap<Subgroup, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(k, v)| (k.to_string(), v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, V: Deserialize<'de>>(
        d: D,
    ) -> Result<BTreeMap<Subgroup, V>, D::Error> {
        BTreeMap::<String, V>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| Ok((k.parse().map_err(D::Error::custom)?, v)))
            .collect()
    }

    /// The same for a list.
    pub mod list {
        use serde::de::Error as _;
        use serde::{Deserialize, Deserializer, Serializer};

        use super::Subgroup;

        pub fn serialize<S: Serializer>(list: &[Subgroup], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(list.iter().map(ToString::to_string))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Subgroup>, D::Error> {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|k| k.parse().map_err(D::Error::custom))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subgroups_read_back_what_they_write_and_sort_as_their_names() {
        let mut all: Vec<Subgroup> = SexGroup::ALL
            .into_iter()
            .map(Subgroup::Sex)
            .chain(AgeBand::ALL.into_iter().map(Subgroup::Age))
            .chain(CodingOrigin::ALL.into_iter().map(Subgroup::Coding))
            .collect();
        for g in &all {
            assert_eq!(g.to_string().parse::<Subgroup>().unwrap(), *g);
            let json = serde_json::to_value(g).unwrap();
            assert_eq!(json["dimension"], g.dimension().as_str());
            assert_eq!(json["value"], g.value());
            assert_eq!(serde_json::from_value::<Subgroup>(json).unwrap(), *g);
        }
        all.sort();
        let names: Vec<String> = all.iter().map(ToString::to_string).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for bad in ["sex", "sex=", "age=90+", "height=tall"] {
            assert!(bad.parse::<Subgroup>().is_err(), "{bad}");
        }
    }

    #[test]
    fn age_bands_cover_every_age() {
        assert_eq!(AgeBand::of(0), AgeBand::Under18);
        assert_eq!(AgeBand::of(17), AgeBand::Under18);
        assert_eq!(AgeBand::of(18), AgeBand::From18To39);
        assert_eq!(AgeBand::of(64), AgeBand::From40To64);
        assert_eq!(AgeBand::of(74), AgeBand::From65To74);
        assert_eq!(AgeBand::of(255), AgeBand::From75);
    }
}
