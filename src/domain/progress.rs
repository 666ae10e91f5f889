//! Progress over rehearsals: which numbers of a report are tracked, the speaker's baseline
//! (median of the previous N rehearsals), the change of the latest against it, the personal
//! best, the comparison of two rehearsals and the status of a goal. Pure functions, no IO.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::metrics::Metrics;

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
    /// Inside the comfortable pace band (distance to the band, lower is better).
    InBand,
    /// No right direction (e.g. phrase length): tracked, never judged.
    Neither,
}

/// A tracked metric: its public name, unit and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricDef {
    pub name: &'static str,
    pub unit: &'static str,
    pub better: Better,
}

/// Every tracked metric, in display order. Names are a public contract (goals refer to them).
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: "pace_wpm",
        unit: "wpm",
        better: Better::InBand,
    },
    MetricDef {
        name: "fillers_per_minute",
        unit: "per_min",
        better: Better::Lower,
    },
    MetricDef {
        name: "fillers_per_100_words",
        unit: "per_100_words",
        better: Better::Lower,
    },
    MetricDef {
        name: "filler_clusters",
        unit: "count",
        better: Better::Lower,
    },
    MetricDef {
        name: "long_pauses",
        unit: "count",
        better: Better::Lower,
    },
    MetricDef {
        name: "awkward_pauses",
        unit: "count",
        better: Better::Lower,
    },
    MetricDef {
        name: "longest_pause_sec",
        unit: "sec",
        better: Better::Lower,
    },
    MetricDef {
        name: "speaking_ratio",
        unit: "ratio",
        better: Better::Neither,
    },
    MetricDef {
        name: "pitch_spread_semitones",
        unit: "semitones",
        better: Better::Higher,
    },
    MetricDef {
        name: "monotone_stretches",
        unit: "count",
        better: Better::Lower,
    },
    MetricDef {
        name: "phrase_avg_words",
        unit: "words",
        better: Better::Neither,
    },
];

/// Keys of the pace band stored beside the values (needed to judge `pace_wpm`).
pub const PACE_BAND_MIN: &str = "pace_band_min_wpm";
pub const PACE_BAND_MAX: &str = "pace_band_max_wpm";

/// A change smaller than this share of the baseline (or of its distance to a goal) is "no
/// change": rehearsals of the same talk wobble by a few percent without the speaker doing
/// anything differently.
pub const STALL_TOLERANCE: f64 = 0.05;

pub fn metric(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}

/// The tracked numbers of one report (absent = not measurable, e.g. pitch of a silent clip).
pub type MetricValues = BTreeMap<String, f64>;

/// The tracked numbers of a report's metrics, plus its pace band.
pub fn values_of(m: &Metrics) -> MetricValues {
    let mut v = MetricValues::new();
    let mut put = |k: &str, x: f64| {
        if x.is_finite() {
            v.insert(k.to_string(), x);
        }
    };
    put("pace_wpm", m.words_per_minute);
    put("fillers_per_minute", m.fillers.per_minute);
    put("fillers_per_100_words", m.fillers.per_100_words);
    put("filler_clusters", m.fillers.bursts.len() as f64);
    put("long_pauses", m.pauses.classes.long as f64);
    put("awkward_pauses", m.pauses.classes.awkward as f64);
    put("longest_pause_sec", m.pauses.max_sec);
    put("speaking_ratio", m.speaking_ratio);
    if let Some(p) = m.voice.pitch_range_semitones {
        put("pitch_spread_semitones", p);
    }
    put(
        "monotone_stretches",
        m.voice.monotone_stretches.len() as f64,
    );
    put("phrase_avg_words", m.phrases.avg_words);
    put(PACE_BAND_MIN, m.pace_band_wpm.min_wpm);
    put(PACE_BAND_MAX, m.pace_band_wpm.max_wpm);
    v
}

/// How far a value is from being "good" for a metric: the distance to the band for `InBand`,
/// the value itself (`Lower`) or its negation (`Higher`); `None` for `Neither`.
fn badness(def: &MetricDef, value: f64, band: Option<(f64, f64)>) -> Option<f64> {
    match def.better {
        Better::Lower => Some(value),
        Better::Higher => Some(-value),
        Better::InBand => band.map(|(lo, hi)| (lo - value).max(value - hi).max(0.0)),
        Better::Neither => None,
    }
}

fn band_of(v: &MetricValues) -> Option<(f64, f64)> {
    Some((*v.get(PACE_BAND_MIN)?, *v.get(PACE_BAND_MAX)?)).filter(|(lo, hi)| hi > lo)
}

/// The median: the middle value, or the mean of the two middle ones.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The baseline: median of the last `n` values before the latest (`None` without any).
pub fn baseline(previous: &[f64], n: usize) -> Option<f64> {
    let start = previous.len().saturating_sub(n);
    median(&previous[start..])
}

/// Whether `now` is better (`Some(true)`), worse (`Some(false)`) than `then`, or the same within
/// [`STALL_TOLERANCE`] (`None`); `None` as well for metrics with no right direction.
pub fn moved_right_way(
    def: &MetricDef,
    then: f64,
    now: f64,
    band: Option<(f64, f64)>,
) -> Option<bool> {
    let (b_then, b_now) = (badness(def, then, band)?, badness(def, now, band)?);
    let scale = match def.better {
        Better::InBand => b_then.abs().max(1.0),
        _ => then.abs().max(f64::EPSILON),
    };
    let change = (b_then - b_now) / scale;
    if change.abs() < STALL_TOLERANCE {
        None
    } else {
        Some(change > 0.0)
    }
}

/// One point of a metric's series.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Point {
    pub rehearsal_id: String,
    pub recorded_at_ms: i64,
    pub value: f64,
}

/// A metric across the speaker's rehearsals.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MetricProgress {
    pub metric: &'static str,
    pub unit: &'static str,
    pub better: Better,
    /// Oldest first.
    pub series: Vec<Point>,
    pub latest: Option<f64>,
    /// Median of the previous N rehearsals (before the latest).
    pub baseline: Option<f64>,
    /// How many rehearsals the baseline is the median of.
    pub baseline_rehearsals: usize,
    /// `latest - baseline`.
    pub delta: Option<f64>,
    /// `delta / baseline × 100` (absent when the baseline is 0).
    pub delta_pct: Option<f64>,
    /// Whether the latest moved the right way against the baseline (null: no change within
    /// the tolerance, no baseline, or no right direction).
    pub improved: Option<bool>,
    /// The best point so far (null for metrics with no right direction).
    pub best: Option<Point>,
}

/// One rehearsal's tracked numbers, for the progress computation.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub rehearsal_id: String,
    pub recorded_at_ms: i64,
    pub values: MetricValues,
}

/// Progress of every tracked metric over `samples` (oldest first); baseline of the last `n`
/// before the latest.
pub fn progress(samples: &[Sample], n: usize) -> Vec<MetricProgress> {
    let band = samples.last().and_then(|s| band_of(&s.values));
    METRICS
        .iter()
        .map(|def| {
            let series: Vec<Point> = samples
                .iter()
                .filter_map(|s| {
                    s.values.get(def.name).map(|&value| Point {
                        rehearsal_id: s.rehearsal_id.clone(),
                        recorded_at_ms: s.recorded_at_ms,
                        value,
                    })
                })
                .collect();
            metric_progress(def, series, n, band)
        })
        .collect()
}

fn metric_progress(
    def: &'static MetricDef,
    series: Vec<Point>,
    n: usize,
    band: Option<(f64, f64)>,
) -> MetricProgress {
    let values: Vec<f64> = series.iter().map(|p| p.value).collect();
    let latest = values.last().copied();
    let previous = &values[..values.len().saturating_sub(1)];
    let base = baseline(previous, n);
    let delta = latest.zip(base).map(|(l, b)| l - b);
    let delta_pct = delta
        .zip(base)
        .filter(|(_, b)| *b != 0.0)
        .map(|(d, b)| d / b * 100.0);
    let improved = latest
        .zip(base)
        .and_then(|(l, b)| moved_right_way(def, b, l, band));
    // Earliest wins a tie: a best is the first time it was reached.
    let best = series
        .iter()
        .filter_map(|p| badness(def, p.value, band).map(|b| (b, p)))
        .fold(None::<(f64, &Point)>, |acc, (b, p)| match acc {
            Some((ab, _)) if ab <= b => acc,
            _ => Some((b, p)),
        })
        .map(|(_, p)| p.clone());
    MetricProgress {
        metric: def.name,
        unit: def.unit,
        better: def.better,
        baseline_rehearsals: previous.len().min(n),
        latest,
        baseline: base,
        delta,
        delta_pct,
        improved,
        best,
        series,
    }
}

/// Two rehearsals side by side.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MetricDelta {
    pub metric: &'static str,
    pub unit: &'static str,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// `b - a`.
    pub delta: Option<f64>,
    /// Whether b is better than a (null: same within the tolerance, or no right direction).
    pub improved: Option<bool>,
}

/// Every tracked metric of `a` and `b` (b is the later one, usually), with `b - a`.
pub fn compare(a: &MetricValues, b: &MetricValues) -> Vec<MetricDelta> {
    let band = band_of(b);
    METRICS
        .iter()
        .map(|def| {
            let (va, vb) = (a.get(def.name).copied(), b.get(def.name).copied());
            MetricDelta {
                metric: def.name,
                unit: def.unit,
                a: va,
                b: vb,
                delta: va.zip(vb).map(|(x, y)| y - x),
                improved: va
                    .zip(vb)
                    .and_then(|(x, y)| moved_right_way(def, x, y, band)),
            }
        })
        .collect()
}

/// A speaker's target for one metric: at least `min`, at most `max` (one or both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Goal {
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Goal {
    /// Checks the goal names a tracked metric and has sane bounds; says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        if metric(&self.metric).is_none() {
            let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
            return Err(format!(
                "unknown metric {:?}; goals can be set on: {}",
                self.metric,
                names.join(", ")
            ));
        }
        match (self.min, self.max) {
            (None, None) => Err(format!("goal on {} needs min, max or both", self.metric)),
            (Some(x), _) | (_, Some(x)) if !x.is_finite() => Err(format!(
                "goal on {}: bounds must be finite numbers",
                self.metric
            )),
            (Some(lo), Some(hi)) if !hi.is_finite() || lo > hi => {
                Err(format!("goal on {}: min must not exceed max", self.metric))
            }
            _ => Ok(()),
        }
    }

    /// How far `value` is outside the goal (0 = met).
    pub fn distance(&self, value: f64) -> f64 {
        let below = self.min.map_or(0.0, |lo| lo - value);
        let above = self.max.map_or(0.0, |hi| value - hi);
        below.max(above).max(0.0)
    }
}

/// Where a speaker stands against a goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GoalStatus {
    /// The latest rehearsal meets it.
    Achieved,
    /// Not met, but closer than the baseline was (by more than [`STALL_TOLERANCE`]).
    Improving,
    /// Not met and further than the baseline was.
    Regressed,
    /// Not met and about as far as before — or nothing earlier to compare with.
    Stalled,
}

/// A goal with the status of one rehearsal against it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GoalCheck {
    pub metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The rehearsal's value (null when not measurable: then the status is `stalled`).
    pub value: Option<f64>,
    /// The baseline it is judged against (median of the previous N).
    pub baseline: Option<f64>,
    pub status: GoalStatus,
}

/// The status of `latest` against `goal`, judged by the baseline's distance to the goal.
pub fn goal_status(goal: &Goal, latest: Option<f64>, baseline: Option<f64>) -> GoalStatus {
    let Some(now) = latest.map(|v| goal.distance(v)) else {
        return GoalStatus::Stalled;
    };
    if now == 0.0 {
        return GoalStatus::Achieved;
    }
    let Some(then) = baseline.map(|v| goal.distance(v)) else {
        return GoalStatus::Stalled;
    };
    // Relative to the baseline's distance; a baseline inside the goal makes any miss a regression.
    let scale = then.max(f64::EPSILON);
    let change = (then - now) / scale;
    if then == 0.0 || change <= -STALL_TOLERANCE {
        GoalStatus::Regressed
    } else if change >= STALL_TOLERANCE {
        GoalStatus::Improving
    } else {
        GoalStatus::Stalled
    }
}

/// Every goal checked for the rehearsal at `index` of `samples` (oldest first), against the
/// median of the `n` rehearsals before it.
pub fn check_goals(goals: &[Goal], samples: &[Sample], index: usize, n: usize) -> Vec<GoalCheck> {
    goals
        .iter()
        .map(|g| {
            let value = samples
                .get(index)
                .and_then(|s| s.values.get(&g.metric).copied());
            let previous: Vec<f64> = samples[..index.min(samples.len())]
                .iter()
                .filter_map(|s| s.values.get(&g.metric).copied())
                .collect();
            let base = baseline(&previous, n);
            GoalCheck {
                metric: g.metric.clone(),
                min: g.min,
                max: g.max,
                value,
                baseline: base,
                status: goal_status(g, value, base),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize, fillers: f64, pace: f64) -> Sample {
        let mut values = MetricValues::new();
        values.insert("fillers_per_minute".into(), fillers);
        values.insert("pace_wpm".into(), pace);
        values.insert(PACE_BAND_MIN.into(), 100.0);
        values.insert(PACE_BAND_MAX.into(), 180.0);
        Sample {
            rehearsal_id: format!("r{i}"),
            recorded_at_ms: i as i64,
            values,
        }
    }

    fn five() -> Vec<Sample> {
        [
            (7.3, 200.0),
            (6.0, 190.0),
            (5.0, 195.0),
            (8.0, 170.0),
            (3.1, 150.0),
        ]
        .iter()
        .enumerate()
        .map(|(i, &(f, p))| sample(i, f, p))
        .collect()
    }

    #[test]
    fn baseline_is_the_median_of_the_previous_n() {
        assert_eq!(baseline(&[], 5), None);
        assert_eq!(baseline(&[4.0], 5), Some(4.0));
        assert_eq!(baseline(&[7.3, 6.0, 5.0, 8.0], 5), Some((6.0 + 7.3) / 2.0));
        // Only the last n count.
        assert_eq!(baseline(&[100.0, 1.0, 2.0, 3.0], 3), Some(2.0));
    }

    #[test]
    fn five_rehearsals_give_exact_baseline_delta_and_best() {
        let p = progress(&five(), 5);
        let fillers = p.iter().find(|m| m.metric == "fillers_per_minute").unwrap();
        assert_eq!(fillers.series.len(), 5);
        assert_eq!(fillers.latest, Some(3.1));
        assert_eq!(fillers.baseline, Some((6.0 + 7.3) / 2.0));
        assert_eq!(fillers.baseline_rehearsals, 4);
        let base = (6.0 + 7.3) / 2.0;
        assert_eq!(fillers.delta, Some(3.1 - base));
        assert_eq!(fillers.delta_pct, Some((3.1 - base) / base * 100.0));
        assert_eq!(fillers.improved, Some(true));
        assert_eq!(fillers.best.as_ref().unwrap().rehearsal_id, "r4");

        let pace = p.iter().find(|m| m.metric == "pace_wpm").unwrap();
        // Baseline median(200, 190, 195, 170) = 192.5; 150 is inside the band: better.
        assert_eq!(pace.baseline, Some(192.5));
        assert_eq!(pace.improved, Some(true));
        // Both 170 and 150 are inside the band: the first to get there is the best.
        assert_eq!(pace.best.as_ref().unwrap().rehearsal_id, "r3");

        let pitch = p
            .iter()
            .find(|m| m.metric == "pitch_spread_semitones")
            .unwrap();
        assert!(pitch.series.is_empty() && pitch.latest.is_none() && pitch.best.is_none());
    }

    #[test]
    fn direction_and_tolerance() {
        let lower = metric("fillers_per_minute").unwrap();
        let higher = metric("pitch_spread_semitones").unwrap();
        let neither = metric("phrase_avg_words").unwrap();
        assert_eq!(moved_right_way(lower, 5.0, 4.0, None), Some(true));
        assert_eq!(moved_right_way(lower, 5.0, 6.0, None), Some(false));
        assert_eq!(moved_right_way(lower, 5.0, 5.1, None), None);
        assert_eq!(moved_right_way(higher, 5.0, 6.0, None), Some(true));
        assert_eq!(moved_right_way(neither, 5.0, 9.0, None), None);
        let pace = metric("pace_wpm").unwrap();
        let band = Some((100.0, 180.0));
        assert_eq!(
            moved_right_way(pace, 120.0, 170.0, band),
            None,
            "both inside"
        );
        assert_eq!(moved_right_way(pace, 170.0, 200.0, band), Some(false));
        assert_eq!(moved_right_way(pace, 220.0, 190.0, band), Some(true));
    }

    #[test]
    fn goal_statuses() {
        let fillers = Goal {
            metric: "fillers_per_minute".into(),
            min: None,
            max: Some(3.0),
        };
        assert_eq!(
            goal_status(&fillers, Some(2.5), Some(7.0)),
            GoalStatus::Achieved
        );
        assert_eq!(goal_status(&fillers, Some(3.0), None), GoalStatus::Achieved);
        assert_eq!(
            goal_status(&fillers, Some(5.0), Some(7.0)),
            GoalStatus::Improving
        );
        assert_eq!(
            goal_status(&fillers, Some(7.0), Some(5.0)),
            GoalStatus::Regressed
        );
        assert_eq!(
            goal_status(&fillers, Some(5.05), Some(5.0)),
            GoalStatus::Stalled
        );
        assert_eq!(goal_status(&fillers, Some(5.0), None), GoalStatus::Stalled);
        assert_eq!(goal_status(&fillers, None, Some(5.0)), GoalStatus::Stalled);
        assert_eq!(
            goal_status(&fillers, Some(3.5), Some(2.0)),
            GoalStatus::Regressed
        );
        let pace = Goal {
            metric: "pace_wpm".into(),
            min: Some(120.0),
            max: Some(160.0),
        };
        assert_eq!(pace.distance(110.0), 10.0);
        assert_eq!(pace.distance(170.0), 10.0);
        assert_eq!(
            goal_status(&pace, Some(165.0), Some(190.0)),
            GoalStatus::Improving
        );
    }

    #[test]
    fn goals_per_rehearsal_use_the_rehearsals_before_it() {
        let goals = [Goal {
            metric: "fillers_per_minute".into(),
            min: None,
            max: Some(3.0),
        }];
        let s = five();
        let statuses: Vec<GoalStatus> = (0..s.len())
            .map(|i| check_goals(&goals, &s, i, 5)[0].status)
            .collect();
        // 7.3 (nothing before) → stalled; 6.0 vs 7.3 → improving; 5.0 vs median(7.3, 6) →
        // improving; 8.0 vs 6.0 → regressed; 3.1 vs 6.65 → improving (0.1 above the goal).
        use GoalStatus::*;
        assert_eq!(
            statuses,
            [Stalled, Improving, Improving, Regressed, Improving]
        );
    }

    #[test]
    fn goal_validation_names_the_problem() {
        let g = |m: &str, min, max| Goal {
            metric: m.into(),
            min,
            max,
        };
        assert!(g("fillers_per_minute", None, Some(3.0)).validate().is_ok());
        assert!(
            g("nope", None, Some(3.0))
                .validate()
                .unwrap_err()
                .contains("pace_wpm")
        );
        assert!(g("pace_wpm", None, None).validate().is_err());
        assert!(g("pace_wpm", Some(160.0), Some(120.0)).validate().is_err());
        assert!(g("pace_wpm", Some(f64::NAN), None).validate().is_err());
    }

    #[test]
    fn compare_says_which_moved_the_right_way() {
        let s = five();
        let d = compare(&s[3].values, &s[4].values);
        let f = d.iter().find(|m| m.metric == "fillers_per_minute").unwrap();
        assert_eq!((f.a, f.b), (Some(8.0), Some(3.1)));
        assert!((f.delta.unwrap() + 4.9).abs() < 1e-12);
        assert_eq!(f.improved, Some(true));
        let pace = d.iter().find(|m| m.metric == "pace_wpm").unwrap();
        assert_eq!(pace.improved, None, "170 → 150, both inside the band");
    }
}
