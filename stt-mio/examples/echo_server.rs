//! An STT echo server in the caller's own mio loop: every stream a peer opens is echoed back on
//! the same stream (reliable and live alike) and every custom frame is sent back unchanged.
//!
//! It uses the [`Driver`] layer directly: the program owns the `Poll`, and reacts to the core's
//! events (`StreamReadable`, `StreamWritable`, ...) without blocking. At most 256 KiB per stream
//! waits to be echoed; past that the server stops reading until the peer takes the echo, so a
//! peer that never reads cannot make it grow.
//!
//! `cargo run -p stt-mio --example echo_server` runs a demonstration (server and a blocking
//! client on loopback); `cargo run -p stt-mio --example echo_server -- 127.0.0.1:9000` serves on
//! that address with the demonstration seed until interrupted.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use mio::{Events, Poll, Token};
use stt_mio::stt_proto::{
    EndpointConfig, Event, Identity, Seed, SessionHandle, StreamError, StreamId, StreamMode, StreamRead,
};
use stt_mio::{Driver, Error, Node};

/// The seed every demonstration node shares. Real deployments generate their own.
pub const DEMO_SEED: [u8; 32] = *b"stt demo seed, not for real use!";
/// Most bytes queued for echo per stream before the server stops reading it.
const MAX_QUEUED: usize = 256 * 1024;

#[derive(Default)]
struct Echo {
    queue: VecDeque<Bytes>,
    queued: usize,
    finished: bool,
}

/// The echo application on top of a driver.
pub struct EchoServer {
    driver: Driver,
    streams: HashMap<(SessionHandle, StreamId), Echo>,
}

impl EchoServer {
    /// Binds the server's UDP socket at `addr` and registers it with `poll` under `token`.
    pub fn bind(addr: SocketAddr, seed: Seed, poll: &Poll, token: Token) -> Result<EchoServer, Error> {
        let config = EndpointConfig::with_shared_seed(seed);
        let identity = Identity::from_seed(&Seed::new(&stt_mio::random_bytes())?);
        let driver = Driver::bind(addr, config, identity, poll.registry(), token)?;
        Ok(EchoServer { driver, streams: HashMap::new() })
    }

    /// The address peers connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.driver.local_addr().expect("bound socket")
    }

    /// The loop: poll, hand readiness to the driver, process, react to events, until `stop`.
    pub fn run(&mut self, poll: &mut Poll, stop: &AtomicBool) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        while !stop.load(Ordering::Relaxed) {
            // Wake at least every 100 ms to look at `stop`.
            let timeout =
                self.driver.timeout().map_or(Duration::from_millis(100), |t| t.min(Duration::from_millis(100)));
            poll.poll(&mut events, Some(timeout))?;
            for event in events.iter() {
                self.driver.handle_event(event);
            }
            self.driver.process();
            while let Some(event) = self.driver.poll_event() {
                self.on_event(event);
            }
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::StreamOpened { session, .. } => {
                let Some(mut s) = self.driver.endpoint_mut().session_mut(session) else { return };
                while let Some(stream) = s.accept_stream() {
                    self.streams.insert((session, stream), Echo::default());
                }
            }
            Event::StreamReadable { session, stream } | Event::StreamWritable { session, stream } => {
                self.pump(session, stream)
            }
            Event::Frame { session, frame_type, payload } => {
                if let Some(mut s) = self.driver.endpoint_mut().session_mut(session) {
                    // Best-effort like the frame itself: a full queue drops the echo.
                    let _ = s.send_frame(frame_type, payload);
                }
            }
            Event::SessionClosed { session, .. } => self.streams.retain(|(h, _), _| *h != session),
            _ => {}
        }
    }

    /// Writes what is queued, then reads more while there is room, until either side blocks.
    fn pump(&mut self, session: SessionHandle, stream: StreamId) {
        let Some(echo) = self.streams.get_mut(&(session, stream)) else { return };
        let Some(mut s) = self.driver.endpoint_mut().session_mut(session) else { return };
        loop {
            while let Some(front) = echo.queue.front_mut() {
                match s.write_bytes(stream, front) {
                    Ok(n) if n == front.len() => {
                        echo.queued -= n;
                        echo.queue.pop_front();
                    }
                    Ok(n) => {
                        echo.queued -= n;
                        front.advance(n);
                        break;
                    }
                    Err(StreamError::Blocked) => break,
                    Err(_) => {
                        self.streams.remove(&(session, stream));
                        return;
                    }
                }
            }
            if echo.finished {
                if echo.queue.is_empty() {
                    let _ = s.finish(stream);
                    self.streams.remove(&(session, stream));
                }
                return;
            }
            if echo.queued >= MAX_QUEUED {
                return;
            }
            match s.read(stream) {
                Ok(Some(StreamRead::Data(chunk))) => {
                    echo.queued += chunk.len();
                    echo.queue.push_back(chunk);
                }
                Ok(Some(StreamRead::Skipped { .. })) => {}
                Ok(Some(StreamRead::Finished)) => echo.finished = true,
                Ok(None) => return,
                Err(_) => {
                    self.streams.remove(&(session, stream));
                    return;
                }
            }
        }
    }
}

/// An echo server running on its own thread.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl RunningServer {
    /// Stops the loop and waits for the thread.
    pub fn stop(self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("echo server thread panicked")
    }
}

/// Starts an echo server on a loopback port in its own thread.
pub fn spawn_server(seed: Seed) -> Result<RunningServer, Error> {
    let mut poll = Poll::new()?;
    let mut server = EchoServer::bind("127.0.0.1:0".parse().unwrap(), seed, &poll, Token(0))?;
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || server.run(&mut poll, &flag));
    Ok(RunningServer { addr, stop, thread })
}

/// The demonstration: an echo server and a blocking client exchange a reliable stream, a live
/// stream and a custom frame on loopback.
pub fn demo() -> Result<(), Error> {
    let seed = Seed::new(&DEMO_SEED)?;
    let server = spawn_server(seed.clone())?;
    let addr = server.addr;
    let mut client = Node::bind("127.0.0.1:0".parse().unwrap(), seed)?;
    client.set_timeout(Some(Duration::from_secs(20)));
    let session = client.connect(addr)?;
    println!("connected to {addr}, peer {:?}", client.peer(session).expect("established"));

    let message: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let stream = client.open_stream(session, StreamMode::Reliable)?;
    // Write and read back in turns of 64 KiB: a blocking client cannot do both at once, and
    // the server holds at most 256 KiB of echo that nobody reads.
    let mut echoed = vec![0u8; message.len()];
    for (sent, back) in message.chunks(64 * 1024).zip(echoed.chunks_mut(64 * 1024)) {
        client.write_all(session, stream, sent)?;
        let mut filled = 0;
        while filled < back.len() {
            match client.read(session, stream, &mut back[filled..])? {
                0 => return Err(Error::Stream(StreamError::Finished)),
                n => filled += n,
            }
        }
    }
    client.finish(session, stream)?;
    assert!(client.read_to_end(session, stream)?.is_empty(), "the server echoed more than was sent");
    assert_eq!(echoed, message, "the reliable echo differs");
    println!("reliable stream: {} bytes echoed intact", echoed.len());

    let live = client.open_stream(session, StreamMode::Live { deadline: Duration::from_millis(100) })?;
    client.write_all(session, live, b"temperature=21.5")?;
    client.finish(session, live)?;
    let reading = client.read_to_end(session, live)?;
    println!("live stream: echoed {:?}", String::from_utf8_lossy(&reading));

    client.send_frame(session, 0x80, &b"ping"[..])?;
    let (kind, payload) = client.recv_frame(session)?;
    println!("custom frame {kind:#04x}: {:?}", String::from_utf8_lossy(&payload));

    client.flush(session)?;
    client.close(session, 0, "done");
    server.stop()?;
    Ok(())
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1) {
        None => demo()?,
        Some(addr) => {
            let mut poll = Poll::new()?;
            let mut server = EchoServer::bind(addr.parse()?, Seed::new(&DEMO_SEED)?, &poll, Token(0))?;
            println!("echo server on {} (demonstration seed)", server.local_addr());
            server.run(&mut poll, &AtomicBool::new(false))?;
        }
    }
    Ok(())
}
