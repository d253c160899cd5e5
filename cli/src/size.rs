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

/// The largest `--chunk`: one read buffer of this size is allocated up front, and a single
/// read larger than this gains nothing on a pipe (the library writes at most 256 KiB at a
/// time by default).
pub(crate) const MAX_CHUNK: u64 = 64 << 20;
/// The largest `--high-water`: the queue may hold about this much (plus one chunk) in memory.
pub(crate) const MAX_HIGH_WATER: u64 = 4 << 30;
/// The largest `--max-write-size`: a single OS write to a pipe larger than this only waits
/// longer for the reader (Linux pipes hold at most 1 MiB unless an administrator raised
/// `/proc/sys/fs/pipe-max-size`).
pub(crate) const MAX_WRITE_SIZE: u64 = 64 << 20;
/// The smallest and largest `bench --bulk`.
pub(crate) const MIN_BULK: u64 = 64 << 10;
/// The largest `bench --bulk`: far more than any useful measurement needs.
pub(crate) const MAX_BULK: u64 = 1 << 40;
/// The largest `bench --messages`: 64 B each, their byte count stays far from overflowing.
pub(crate) const MAX_MESSAGES: u64 = 1_000_000_000_000;

/// `parse_size`, refusing values outside `min..=max`; `what` names the argument in the error.
fn parse_in_range(text: &str, min: u64, max: u64, what: &str) -> Result<u64, String> {
    let value = parse_size(text)?;
    if value < min || value > max {
        let (lo, hi) = (human_bytes(min), human_bytes(max));
        return Err(format!(
            "{what} must be between {lo} and {hi}; `{}` is {}",
            text.trim(),
            human_bytes(value)
        ));
    }
    Ok(value)
}

/// A memory size in `1..=max` that fits in a `usize`.
fn parse_memory_size(text: &str, max: u64, what: &str) -> Result<usize, String> {
    let value = parse_in_range(text, 1, max, what)?;
    usize::try_from(value)
        .map_err(|_| format!("{what} `{}` is too large for this platform", text.trim()))
}

/// `feed --chunk`: 1 B..=[`MAX_CHUNK`].
pub(crate) fn parse_chunk(text: &str) -> Result<usize, String> {
    parse_memory_size(text, MAX_CHUNK, "the chunk size")
}

/// `--high-water`: 1 B..=[`MAX_HIGH_WATER`].
pub(crate) fn parse_high_water(text: &str) -> Result<usize, String> {
    parse_memory_size(text, MAX_HIGH_WATER, "the high-water mark")
}

/// `--max-write-size`: 1 B..=[`MAX_WRITE_SIZE`].
pub(crate) fn parse_max_write_size(text: &str) -> Result<usize, String> {
    parse_memory_size(text, MAX_WRITE_SIZE, "the largest write")
}

/// `bench --bulk`: [`MIN_BULK`]..=[`MAX_BULK`].
pub(crate) fn parse_bulk(text: &str) -> Result<u64, String> {
    parse_in_range(text, MIN_BULK, MAX_BULK, "the bulk size")
}

/// `bench --messages`: 1..=[`MAX_MESSAGES`] (a count; the units work as for sizes, `10M`).
pub(crate) fn parse_messages(text: &str) -> Result<u64, String> {
    let value = parse_size(text)?;
    if value == 0 || value > MAX_MESSAGES {
        return Err(format!(
            "the message count must be between 1 and {MAX_MESSAGES}; `{}` is {value}",
            text.trim()
        ));
    }
    Ok(value)
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
    }

    #[test]
    fn sizes_out_of_range_are_refused_with_the_limits() {
        for (parse, ok, bad) in [
            (
                parse_chunk as fn(&str) -> Result<usize, String>,
                "64MiB",
                "64.1MiB",
            ),
            (parse_high_water, "4G", "4097M"),
            (parse_max_write_size, "64M", "1T"),
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
            assert!(parse("1").is_ok());
            let error = parse(bad).unwrap_err();
            assert!(error.contains("must be between 1 B and"), "{error}");
            assert!(parse("0").unwrap_err().contains("is 0 B"));
        }
        let error = parse_chunk("1T").unwrap_err();
        assert_eq!(
            error,
            "the chunk size must be between 1 B and 64.00 MiB; `1T` is 1.00 TiB"
        );
        assert_eq!(parse_bulk("64k"), Ok(64 << 10));
        assert!(parse_bulk("1k").is_err());
        assert!(parse_bulk("2T").is_err());
        assert_eq!(parse_messages("10M"), Ok(10 << 20));
        assert!(parse_messages("0").is_err());
        assert!(parse_messages("16E").is_err());
        assert!(parse_messages("1T").is_err());
    }

    #[test]
    fn human_readable() {
        assert_eq!(human_bytes(17), "17 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(1 << 30), "1.00 GiB");
    }
}
