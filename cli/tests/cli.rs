//! End-to-end checks of the `pipewriter` binary: exit codes, messages, the bench table.

use std::process::{Command, Output};

fn pipewriter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipewriter"))
        .args(args)
        .output()
        .expect("the pipewriter binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[cfg(unix)]
#[test]
fn feed_generated_data_to_a_command_reports_the_total() {
    let out = pipewriter(&["feed", "--generate", "3MiB", "--cmd", "wc -c"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3145728");
    assert!(
        stderr(&out).contains("wrote 3.00 MiB (3145728 bytes)"),
        "{}",
        stderr(&out)
    );
}

#[cfg(unix)]
#[test]
fn feed_exits_3_when_the_reader_goes_away_early() {
    let out = pipewriter(&[
        "feed",
        "--generate",
        "64MiB",
        "--cmd",
        "head -c 1000 >/dev/null",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the reader went away after")
            && stderr(&out).contains("of 67108864 bytes"),
        "{}",
        stderr(&out)
    );
}

#[cfg(unix)]
#[test]
fn feed_exits_1_when_the_command_fails() {
    let out = pipewriter(&[
        "feed",
        "--generate",
        "1k",
        "--cmd",
        "cat >/dev/null; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("exited with"), "{}", stderr(&out));
}

#[test]
fn bad_arguments_exit_2_with_a_message_not_a_panic() {
    for args in [
        &["feed", "--generate", "12parsecs", "--cmd", "true"][..],
        &["feed", "--generate", "1k"][..],
        &["feed", "--generate", "1k", "--cmd", "true", "--fifo", "x"][..],
        &[
            "feed",
            "--generate",
            "1k",
            "--cmd",
            "true",
            "--high-water",
            "0",
        ][..],
        &["bench", "--only", "everything"][..],
    ] {
        let out = pipewriter(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("error"), "{args:?}: {}", stderr(&out));
    }
}

#[cfg(unix)]
#[test]
fn feed_refuses_a_path_that_is_not_a_fifo() {
    let out = pipewriter(&[
        "feed",
        "--generate",
        "1k",
        "--fifo",
        "/etc/passwd",
        "--open-timeout",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a FIFO"), "{}", stderr(&out));
}

#[cfg(target_os = "linux")]
#[test]
fn bench_prints_a_markdown_table_and_csv() {
    let dir = std::env::temp_dir().join(format!("pipewriter-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("bench.csv");
    let out = pipewriter(&[
        "bench",
        "--quick",
        "--reps",
        "1",
        "--only",
        "latency,many",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("| std blocking ping, std echo thread |"),
        "{table}"
    );
    assert!(
        table.contains("| workload | target | measured | met |"),
        "{table}"
    );
    assert!(table.contains("10000 writers"), "{table}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(
        csv.starts_with("case,contender,metric,rep,value\n"),
        "{csv}"
    );
    assert!(csv.contains(",p50 µs,0,"), "{csv}");
    std::fs::remove_dir_all(&dir).unwrap();
}
