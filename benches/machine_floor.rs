//! What this machine charges for the system calls a call cannot avoid (run:
//! `cargo bench --bench machine_floor`).
//!
//! A bridged call needs a socket read and a socket write per 20 ms frame on each leg; the server's
//! CPU per call-second can never be below what those cost here. These figures turn the load
//! tester's syscall counts into that floor (BENCHMARKS.md):
//! - a trivial system call (`sched_yield` with nothing else runnable),
//! - a 300-byte loopback TCP write and its read in one thread (no wake-up),
//! - a loopback round trip between two threads, 300 bytes out and 1 byte back, each side asleep in
//!   `read` until the other's write wakes it: two writes, two reads and two wake-ups, which is what
//!   a frame costs when the peer is another process.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use criterion::{Criterion, criterion_group, criterion_main};

fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let a = TcpStream::connect(listener.local_addr().expect("local addr")).expect("connect");
    let (b, _) = listener.accept().expect("accept");
    a.set_nodelay(true).expect("nodelay");
    b.set_nodelay(true).expect("nodelay");
    (a, b)
}

fn floor(c: &mut Criterion) {
    c.bench_function("syscall: sched_yield", |b| b.iter(std::thread::yield_now));

    let (mut a, mut b) = pair();
    let message = [0x55u8; 300];
    let mut buf = [0u8; 300];
    c.bench_function("loopback TCP: 300 B write + read, one thread", |bench| {
        bench.iter(|| {
            a.write_all(black_box(&message)).expect("write");
            b.read_exact(&mut buf).expect("read");
        })
    });

    let (mut a, b) = pair();
    let echo = std::thread::spawn(move || {
        let mut b = b;
        let mut buf = [0u8; 300];
        while b.read_exact(&mut buf).is_ok() {
            if b.write_all(&[1]).is_err() {
                return;
            }
        }
    });
    let mut ack = [0u8; 1];
    c.bench_function(
        "loopback TCP: round trip to a sleeping thread (300 B out, 1 B back)",
        |bench| {
            bench.iter(|| {
                a.write_all(black_box(&message)).expect("write");
                a.read_exact(&mut ack).expect("ack");
            })
        },
    );
    drop(a);
    let _ = echo.join();
}

criterion_group!(benches, floor);
criterion_main!(benches);
