use std::io::Read;
use std::time::Duration;

#[test]
fn smoke() {
    let (mut r, w) = std::io::pipe().unwrap();
    let writer = pipewriter::PipeWriter::new(w).unwrap();
    for i in 0..1000u32 {
        writer.write(format!("line {i}\n")).unwrap();
    }
    writer.close(Duration::from_secs(5)).unwrap();
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s.lines().count(), 1000);
}
