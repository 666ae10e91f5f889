//! Small numeric helpers shared by the metrics. All of them return finite numbers for any input
//! (0 for an empty slice): the report is JSON, and JSON cannot carry NaN.

/// `x` if finite, else 0.
pub fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// Round to `decimals` places (report numbers are rounded so that equal inputs give byte-equal
/// JSON and nobody reads meaning into the 12th digit).
pub fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    finite((finite(x) * f).round() / f)
}

/// Round a time to milliseconds.
pub fn ms(x: f64) -> f64 {
    round(x, 3)
}

pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    finite(xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Population standard deviation.
pub fn std_dev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    finite((xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt())
}

/// Percentile `p` (0..=100) with linear interpolation between closest ranks.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    finite(v[lo] + (v[hi] - v[lo]) * frac)
}

pub fn median(xs: &[f64]) -> f64 {
    percentile(xs, 50.0)
}

/// Whether `x` is a finite number above zero (false for NaN).
pub fn is_positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// `num / den`, 0 when the denominator is not positive.
pub fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 { finite(num / den) } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_inputs_give_zero() {
        assert_eq!(mean(&[]), 0.0);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(std_dev(&[1.0]), 0.0);
        assert_eq!(ratio(1.0, 0.0), 0.0);
        assert_eq!(round(f64::NAN, 2), 0.0);
    }

    #[test]
    fn known_values() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(percentile(&[0.0, 10.0], 90.0), 9.0);
        assert_eq!(std_dev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), 2.0);
        assert_eq!(round(1.23456, 2), 1.23);
    }
}
