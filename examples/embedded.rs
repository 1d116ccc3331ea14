//! Run FlashKV inside your own Tokio program.
//!
//! ```text
//! cargo run --example embedded            # rwlock backend
//! cargo run --example embedded -- epoch   # any of rwlock, flurry, epoch, scc
//! ```
//!
//! The server binds a free loopback port, a Redis client (the `redis`
//! crate) talks to it over TCP, and the program stops the server cleanly.

use flashkv::{server, Config, Store};

/// Start a server on backend `S`, use it, stop it; returns what was read
/// back.
pub async fn demo<S: Store>() -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    // Bind first (port 0: any free port), then hand the listener over.
    let listener = server::bind("127.0.0.1:0".parse()?, 511)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server::run::<S>(vec![listener], Config::default(), async {
        let _ = stopped.await;
    }));

    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let mut con = client.get_multiplexed_async_connection().await?;
    let () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello from FlashKV")
        .query_async(&mut con)
        .await?;
    let (n, greeting): (i64, String) = redis::pipe()
        .cmd("INCRBY")
        .arg("visits")
        .arg(41)
        .cmd("GET")
        .arg("greeting")
        .query_async(&mut con)
        .await?;
    assert_eq!(n, 41);

    // Graceful stop: in-flight commands finish, then `run` returns.
    let _ = stop.send(());
    running.await??;
    Ok(greeting)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let backend = std::env::args().nth(1).unwrap_or_else(|| "rwlock".into());
    let kind = flashkv::BackendKind::from_name(&backend)
        .ok_or_else(|| format!("unknown backend {backend}"))?;
    let greeting = flashkv::with_backend!(kind, S => demo::<S>().await?);
    println!("{backend}: {greeting}");
    Ok(())
}
