//! A series of monthly exports of one region ([`SeriesSpec`]): `series.json`, then one cohort
//! directory per export (`export-01`, `export-02`, ...), each a fresh draw with a seed of its
//! own and the series' drift in force from its first drifting export on.

use std::fs;
use std::path::Path;

use jiff::ToSpan;
use jiff::civil::Date;
use serde::Serialize;

use crate::drift::ExportDrift;
use crate::generator::splitmix64;
use crate::spec::{CohortError, CohortSpec, SERIES_MANIFEST, SeriesSpec};
use crate::write::{
    CohortSummary, GENERATOR, SeriesEntry, io_err, json_err, write_export, written_by_us,
};

/// Salt of the exports' seeds.
const SERIES_SALT: u64 = 0x7365_7269_6573_2121;

/// One written export of a series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesExport {
    /// 1-based.
    pub number: usize,
    /// The export's directory name inside the series directory (`export-01`).
    pub dir_name: String,
    /// Its evaluation date.
    pub as_of: Date,
    /// Whether the series' drift is in force in it.
    pub drifting: bool,
    pub summary: CohortSummary,
}

/// What [`write_series`] wrote, in export order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeriesSummary {
    pub exports: Vec<SeriesExport>,
}

#[derive(Serialize)]
struct Manifest<'a> {
    generator: &'static str,
    seed: u64,
    patients: usize,
    drift: Option<&'static str>,
    drift_from: Option<usize>,
    exports: Vec<ManifestExport<'a>>,
}

#[derive(Serialize)]
struct ManifestExport<'a> {
    dir: &'a str,
    as_of: String,
    drifting: bool,
}

/// The seed of export `number` of a series with seed `seed`.
fn export_seed(seed: u64, number: usize) -> u64 {
    splitmix64(seed ^ splitmix64(number as u64 ^ SERIES_SALT))
}

/// Writes the series into `out_dir`: one cohort directory per export and `series.json`.
///
/// `out_dir` is created if needed. A non-empty directory is refused unless it holds a
/// `series.json` written by this generator; each export directory is then replaced as
/// [`crate::write_cohort`] replaces a cohort.
pub fn write_series(spec: &SeriesSpec, out_dir: &Path) -> Result<SeriesSummary, CohortError> {
    if spec.exports == 0 {
        return Err(CohortError::InvalidSpec(
            "a series needs at least one export".into(),
        ));
    }
    if let Some(drift) = spec.drift {
        drift.check(spec.exports)?;
    }
    fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let manifest_path = out_dir.join(SERIES_MANIFEST);
    let empty = fs::read_dir(out_dir)
        .map_err(io_err(out_dir))?
        .next()
        .is_none();
    if !empty && !written_by_us(&manifest_path) {
        return Err(CohortError::NotASeriesDir {
            path: out_dir.to_path_buf(),
        });
    }

    let width = spec.exports.to_string().len().max(2);
    let mut plan = Vec::with_capacity(spec.exports);
    for number in 1..=spec.exports {
        let as_of = spec
            .cohort
            .as_of
            .checked_add((number as i64 - 1).months())
            .map_err(|e| {
                CohortError::InvalidSpec(format!(
                    "export {number}: {} plus {} months: {e}",
                    spec.cohort.as_of,
                    number - 1
                ))
            })?;
        let drifting = spec.drift.is_some_and(|d| d.applies_to(number));
        plan.push((number, format!("export-{number:0width$}"), as_of, drifting));
    }

    // Written first, so that an interrupted series can be written again over itself.
    let manifest = Manifest {
        generator: GENERATOR,
        seed: spec.cohort.seed,
        patients: spec.cohort.patients,
        drift: spec.drift.map(|d| d.kind.name()),
        drift_from: spec.drift.map(|d| d.from),
        exports: plan
            .iter()
            .map(|(_, dir, as_of, drifting)| ManifestExport {
                dir,
                as_of: as_of.to_string(),
                drifting: *drifting,
            })
            .collect(),
    };
    let mut text = serde_json::to_vec_pretty(&manifest).map_err(json_err(&manifest_path))?;
    text.push(b'\n');
    fs::write(&manifest_path, text).map_err(io_err(&manifest_path))?;

    let mut exports = Vec::with_capacity(spec.exports);
    for (number, dir_name, as_of, drifting) in plan {
        let seed = export_seed(spec.cohort.seed, number);
        let drift = match spec.drift {
            Some(d) if drifting => ExportDrift::new(d.kind, seed),
            _ => ExportDrift::NONE,
        };
        let cohort = CohortSpec {
            seed,
            as_of,
            ..spec.cohort.clone()
        };
        let entry = SeriesEntry {
            export: number,
            of: spec.exports,
            drift: spec.drift.map(|d| d.kind.name()),
            drift_from: spec.drift.map(|d| d.from),
            drifting,
        };
        let summary = write_export(&cohort, &out_dir.join(&dir_name), drift, Some(entry))?;
        exports.push(SeriesExport {
            number,
            dir_name,
            as_of,
            drifting,
            summary,
        });
    }
    Ok(SeriesSummary { exports })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use jiff::civil::Date;
    use serde_json::Value as Json;

    use super::write_series;
    use crate::reread::{self, LNC, SCT, age_of, of_type};
    use crate::spec::{
        CohortFormat, CohortMix, CohortShape, CohortSpec, Drift, DriftKind, LABELS, SeriesSpec,
    };

    const EXPORTS: usize = 4;
    const FROM: usize = 3;
    const PATIENTS: usize = 150;

    fn spec(drift: Option<DriftKind>) -> SeriesSpec {
        SeriesSpec {
            cohort: CohortSpec {
                seed: 7,
                patients: PATIENTS,
                as_of: Date::new(2026, 1, 31).unwrap(),
                format: CohortFormat::Bundles,
                shape: CohortShape::Plain,
                mix: CohortMix::Enriched,
            },
            exports: EXPORTS,
            drift: drift.map(|kind| Drift { kind, from: FROM }),
        }
    }

    /// What a drift changes, measured on one written export (read back as JSON).
    fn measure(kind: DriftKind, dir: &Path, as_of: Date) -> f64 {
        let ratio = |hits: usize, of: usize| {
            assert!(of > 0, "{}: nothing to measure {kind:?} on", dir.display());
            hits as f64 / of as f64
        };
        if kind == DriftKind::Prevalence {
            let labels = fs::read_to_string(dir.join(LABELS)).unwrap();
            let rows: Vec<&str> = labels
                .lines()
                .filter(|l| l.contains(",metformin-egfr,"))
                .collect();
            return ratio(
                rows.iter().filter(|l| l.ends_with(",1")).count(),
                rows.len(),
            );
        }
        let export = reread::read_bundles(dir, false);
        let records = export.records.values();
        let systems = |r: &Json| -> Vec<(String, String)> {
            r["code"]["coding"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                    (s("system"), s("code"))
                })
                .collect()
        };
        match kind {
            DriftKind::Prevalence => unreachable!("measured on the labels above"),
            DriftKind::Age => {
                let old = records.clone().filter(|r| age_of(r, as_of) >= 65).count();
                ratio(old, records.count())
            }
            DriftKind::Coding => {
                let conditions: Vec<_> = records.flat_map(|r| of_type(r, "Condition")).collect();
                let snomed = conditions
                    .iter()
                    .filter(|c| systems(c).iter().all(|(s, _)| s == SCT))
                    .count();
                ratio(snomed, conditions.len())
            }
            DriftKind::EgfrUnit | DriftKind::EgfrCode => {
                // An eGFR is the observation whose value is per minute, whatever its code.
                let egfrs: Vec<_> = records
                    .flat_map(|r| of_type(r, "Observation"))
                    .filter(|o| {
                        o["valueQuantity"]["unit"]
                            .as_str()
                            .is_some_and(|u| u.starts_with("mL/min"))
                    })
                    .collect();
                let drifted = egfrs.iter().filter(|o| match kind {
                    DriftKind::EgfrUnit => o["valueQuantity"]["unit"] == "mL/min",
                    _ => systems(o).iter().all(|(s, _)| s != LNC),
                });
                ratio(drifted.count(), egfrs.len())
            }
        }
    }

    /// Each drift, measured on the written exports: before the drift and in the stable control
    /// series the measure stays on one side of `limit`; from the drifting export on, it is on
    /// the other side.
    #[test]
    fn series_drift_is_in_the_data_from_its_export_on_and_absent_in_the_control() {
        // (kind, limit): the measure's control level is well below the limit, the drift's
        // well above it.
        let cases = [
            (DriftKind::Prevalence, 0.16),
            (DriftKind::Age, 0.56),
            (DriftKind::Coding, 0.55),
            (DriftKind::EgfrUnit, 0.5),
            (DriftKind::EgfrCode, 0.5),
        ];
        let control_dir = tempfile::tempdir().unwrap();
        let control = write_series(&spec(None), control_dir.path()).unwrap();
        for (kind, limit) in cases {
            let dir = tempfile::tempdir().unwrap();
            let series = write_series(&spec(Some(kind)), dir.path()).unwrap();
            let mut seen = Vec::new();
            for (drifting, stable) in series.exports.iter().zip(&control.exports) {
                assert_eq!(drifting.as_of, stable.as_of);
                assert_eq!(drifting.drifting, drifting.number >= FROM);
                let x = measure(kind, &dir.path().join(&drifting.dir_name), drifting.as_of);
                let c = measure(
                    kind,
                    &control_dir.path().join(&stable.dir_name),
                    stable.as_of,
                );
                seen.push((drifting.number, x, c));
                assert!(
                    c < limit,
                    "control series, export {}: {kind:?} measure {c:.3} is not below {limit}",
                    stable.number
                );
                assert_eq!(
                    x >= limit,
                    drifting.drifting,
                    "{kind:?} series, export {} (drift from {FROM}): measure {x:.3} against limit {limit}; all (export, drift, control): {seen:?}",
                    drifting.number
                );
                if !drifting.drifting {
                    let a = fs::read(dir.path().join(&drifting.dir_name).join(LABELS)).unwrap();
                    let b =
                        fs::read(control_dir.path().join(&stable.dir_name).join(LABELS)).unwrap();
                    assert!(
                        a == b,
                        "{kind:?} series, export {}: before the drift it differs from the control series",
                        drifting.number
                    );
                }
            }
            eprintln!("{kind:?}: (export, drifting series, control) {seen:?}");
        }
    }

    #[test]
    fn series_is_deterministic_and_refuses_a_bad_drift() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let spec = spec(Some(DriftKind::EgfrUnit));
        write_series(&spec, a.path()).unwrap();
        write_series(&spec, b.path()).unwrap();
        let listing = |root: &Path| {
            let mut files = Vec::new();
            for dir in fs::read_dir(root).unwrap() {
                let dir = dir.unwrap().path();
                let mut inner: Vec<_> = if dir.is_dir() {
                    fs::read_dir(&dir)
                        .unwrap()
                        .map(|e| e.unwrap().path())
                        .collect()
                } else {
                    vec![dir]
                };
                inner.sort();
                for f in inner {
                    let name = f.strip_prefix(root).unwrap().to_path_buf();
                    files.push((name, fs::read(&f).unwrap()));
                }
            }
            files.sort();
            files
        };
        let (la, lb) = (listing(a.path()), listing(b.path()));
        assert_eq!(la.len(), lb.len());
        for ((na, ba), (nb, bb)) in la.iter().zip(&lb) {
            assert_eq!(na, nb);
            assert!(
                ba == bb,
                "{} differs between two runs of one seed",
                na.display()
            );
        }
        // Writing again over a series is allowed; over another directory's files it is not.
        write_series(&spec, a.path()).unwrap();
        let other = tempfile::tempdir().unwrap();
        fs::create_dir_all(other.path()).unwrap();
        fs::write(other.path().join("notes.txt"), "mine").unwrap();
        let err = write_series(&spec, other.path()).unwrap_err().to_string();
        assert!(err.contains("series.json"), "{err}");

        assert_eq!(
            Drift::parse("egfr-code:3", 4).unwrap(),
            Drift {
                kind: DriftKind::EgfrCode,
                from: 3
            }
        );
        assert_eq!(Drift::parse("age", 12).unwrap().from, 7);
        for (bad, says) in [
            ("egfr-unit:1", "between 2 and 4"),
            ("egfr-unit:5", "between 2 and 4"),
            ("egfr-unit:x", "not an export number"),
            ("weather", "unknown drift"),
        ] {
            let err = Drift::parse(bad, 4).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
