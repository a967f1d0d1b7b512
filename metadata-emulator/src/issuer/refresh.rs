//! The commands a projected token's refresh task takes, from its [`super::ProjectedToken`] or
//! from the issuer's control endpoints (through [`super::state::Shared`]): both send them
//! here, so neither needs the other.

use tokio::sync::{mpsc, oneshot};

/// Where the task says how the write it was asked for went.
pub(super) type Ack = oneshot::Sender<std::io::Result<()>>;

#[derive(Debug)]
pub(super) enum Command {
    /// Write a fresh token now and resume refreshing.
    Refresh(Ack),
    /// Write a token that expired an hour ago and stop refreshing.
    Expire(Ack),
}

/// Sends `command` to a projected token's task and waits for the write's outcome.
pub(super) async fn send(commands: &mpsc::Sender<Command>, command: fn(Ack) -> Command) -> std::io::Result<()> {
    let (ack, done) = oneshot::channel();
    let gone = || std::io::Error::other("the projected token's task has stopped");
    commands.send(command(ack)).await.map_err(|_| gone())?;
    done.await.map_err(|_| gone())?
}
