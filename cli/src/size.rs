//! Byte sizes on the command line: `4096`, `4k`, `64MiB`, `1G`, `1.5GiB`, `10MB`.
//!
//! As in GNU coreutils, a bare suffix (`k`, `M`, `G`, `T`) and the `iB` forms are powers of
//! 1024, while `kB`, `MB`, `GB`, `TB` are powers of 1000. Case does not matter, except that
//! a lone `b` is taken as bytes.

/// Parses a size such as `64MiB` into bytes.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() {
        return Err(format!(
            "`{text}` is not a size: expected a number with an optional unit, e.g. 4096, 4k, 64MiB, 1G"
        ));
    }
    let multiplier: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use k, M, G, T (powers of 1024, also as KiB, MiB…) or kB, MB, GB, TB (powers of 1000)"
            ))
        }
    };
    let value = if let Some((whole, frac)) = number.split_once('.') {
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| format!("`{text}` is not a size"))?
        };
        if frac.is_empty() || frac.contains('.') || frac.len() > 9 {
            return Err(format!("`{text}` is not a size"));
        }
        let frac_value: u64 = frac
            .parse()
            .map_err(|_| format!("`{text}` is not a size"))?;
        let scale = 10u64.pow(frac.len() as u32);
        whole
            .checked_mul(multiplier)
            .and_then(|w| {
                let f = u128::from(frac_value) * u128::from(multiplier) / u128::from(scale);
                w.checked_add(u64::try_from(f).ok()?)
            })
            .ok_or_else(|| format!("`{text}` is too large"))?
    } else {
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(multiplier))
            .ok_or_else(|| format!("`{text}` is too large"))?
    };
    Ok(value)
}

/// `parse_size` for arguments that must fit in memory sizes (`usize`) and be non-zero.
pub(crate) fn parse_nonzero_usize(text: &str) -> Result<usize, String> {
    let value = parse_size(text)?;
    if value == 0 {
        return Err("must be greater than zero".into());
    }
    usize::try_from(value).map_err(|_| format!("`{text}` is too large for this platform"))
}

/// Formats a byte count for people: `1.50 GiB`, `64.0 KiB`, `17 B`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_decimal_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("0.5k"), Ok(512));
        assert_eq!(parse_size(" 7b "), Ok(7));
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        for bad in [
            "",
            "k",
            "1x",
            "1.2.3G",
            "-1",
            "1.G",
            "99999999999999999999",
            "16777216T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_nonzero_usize("0").is_err());
    }

    #[test]
    fn human_readable() {
        assert_eq!(human_bytes(17), "17 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(1 << 30), "1.00 GiB");
    }
}
