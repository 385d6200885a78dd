//! Change notices between replicas: `LISTEN`/`NOTIFY` on one channel.
//!
//! A write that other replicas must follow (a model version saved, the catalogue changed, an
//! experiment created or stopped, a placement written or deleted) sends
//! `NOTIFY aisle_changes, '<kind>'`: inside the writing transaction where there is one
//! (delivered on commit, never for a rolled-back write), right after the statement
//! otherwise. Each process that watches holds one connection of its own, outside the pool,
//! that `LISTEN`s and hands every notice to the listener.
//!
//! Notices are a hint that shortens the wait; the followers keep polling. When the listening
//! connection breaks, it is opened again a second later and the listener is told
//! [`Change::Everything`], since notices sent meanwhile are lost.

use std::time::Duration;

use tokio_postgres::{AsyncMessage, Config, NoTls};

use crate::error::Result;
use crate::store::{Change, ChangeListener};

/// The channel every notice goes through.
pub(super) const CHANNEL: &str = "aisle_changes";

/// How long a broken listening connection waits before it is opened again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The payload naming `change`.
pub(super) fn payload(change: Change) -> &'static str {
    match change {
        Change::Models => "models",
        Change::Catalogue => "catalogue",
        Change::Experiments => "experiments",
        Change::Placements => "placements",
        Change::Everything => "everything",
    }
}

fn parse(payload: &str) -> Change {
    match payload {
        "models" => Change::Models,
        "catalogue" => Change::Catalogue,
        "experiments" => Change::Experiments,
        "placements" => Change::Placements,
        // A kind a newer Aisle sends: look at everything rather than miss it.
        _ => Change::Everything,
    }
}

/// The statement that sends a notice of `change`.
pub(super) fn notify_sql(change: Change) -> String {
    format!("SELECT pg_notify('{CHANNEL}', '{}')", payload(change))
}

/// Listens on its own connection until the runtime shuts down, reconnecting when it breaks.
/// Must be spawned on the store's runtime.
pub(super) async fn listen(config: Config, listener: ChangeListener) {
    let mut connected_before = false;
    loop {
        if let Ok(()) = listen_once(&config, &listener, connected_before).await {
            connected_before = true;
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// One listening connection, from opening to breaking. `Ok` once it was listening.
async fn listen_once(config: &Config, listener: &ChangeListener, reconnect: bool) -> Result<()> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (sender, mut notices) = tokio::sync::mpsc::unbounded_channel();
    // The connection object yields the notices; it must be polled for the client's own
    // statements to be answered too, so it runs as its own task.
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(notice)) => {
                    if sender.send(parse(notice.payload())).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    if reconnect {
        listener(Change::Everything);
    }
    while let Some(change) = notices.recv().await {
        listener(change);
    }
    driver.abort();
    Ok(())
}
