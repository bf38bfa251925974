//! Runs each example's demonstration, so the examples keep working.

#[path = "../examples/echo_server.rs"]
#[allow(dead_code)]
mod echo_server;
#[path = "../examples/sensor.rs"]
#[allow(dead_code)]
mod sensor;

#[test]
fn echo_server_demo_runs() {
    echo_server::demo().expect("echo demo");
}

#[test]
fn sensor_demo_delivers_every_reading_in_order_on_a_clean_path() {
    let got = sensor::run(100, std::time::Duration::from_millis(1), |a| a).expect("sensor demo");
    let seqs: Vec<u32> = got.readings.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (0..100).collect::<Vec<_>>());
    assert!(got.readings.iter().all(|&(seq, v)| v == sensor::value_of(seq)));
    assert_eq!(got.skipped_bytes, 0);
}
