//! An emulator on a thread of its own, for synchronous callers.

use std::ops::Deref;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::{Config, Emulator, Handle};

/// An [`Emulator`] running on its own thread and Tokio runtime. It dereferences to a
/// [`Handle`] (`addr()`, `host()`, `set_faults()`, `tokens_issued()`, `jwks()`, ...)
/// and stops when dropped.
#[derive(Debug)]
pub struct BlockingEmulator {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BlockingEmulator {
    /// Starts an emulator on `127.0.0.1` on a free port, on a new thread.
    pub fn start(config: Config) -> std::io::Result<BlockingEmulator> {
        let (started_tx, started_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("gke-metadata-emulator".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        // The receiver only goes away if `start` itself is gone.
                        let _ = started_tx.send(Err(error));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Emulator::start(config).await {
                        Ok(emulator) => {
                            let _ = started_tx.send(Ok(emulator.handle()));
                            // Either a stop message or the owner being dropped ends it.
                            let _ = stopped.await;
                            emulator.shutdown().await;
                        }
                        Err(error) => {
                            let _ = started_tx.send(Err(error));
                        }
                    }
                });
            })?;
        let handle = started_rx
            .recv()
            .map_err(|_| std::io::Error::other("emulator thread exited before starting"))??;
        Ok(BlockingEmulator {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// A cloneable handle on the server.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }
}

impl Deref for BlockingEmulator {
    type Target = Handle;

    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for BlockingEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("metadata emulator thread panicked");
        }
    }
}
