//! A minimal QMP client over the QEMU unix socket: negotiate capabilities,
//! send one command, read its answer (skipping asynchronous events).

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// Ids of `device_del` commands whose `DEVICE_DELETED` event has not
    /// come yet: the unplug is still running in the guest and QEMU.
    pending_deletes: Vec<String>,
}

impl Qmp {
    /// Connect, waiting up to `wait` for QEMU to create the socket.
    pub fn connect(socket: &Path, wait: Duration) -> Result<Qmp> {
        let deadline = Instant::now() + wait;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot connect to QMP socket {}", socket.display())
                    })
                }
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        let writer = stream.try_clone()?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            pending_deletes: Vec::new(),
        };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            bail!("unexpected QMP greeting: {greeting}");
        }
        qmp.execute(&serde_json::json!({"execute": "qmp_capabilities"}))?;
        Ok(qmp)
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .context("reading from QMP")?;
        if n == 0 {
            bail!("QMP socket closed");
        }
        let msg: Value = serde_json::from_str(line.trim())
            .with_context(|| format!("bad QMP message: {line}"))?;
        if msg.get("event").and_then(Value::as_str) == Some("DEVICE_DELETED") {
            if let Some(id) = msg.pointer("/data/device").and_then(Value::as_str) {
                self.pending_deletes.retain(|p| p != id);
            }
        }
        Ok(msg)
    }

    /// Wait (at most `limit`) until every earlier `device_del` finished, so
    /// that a `device_add` on the same slot does not race the unplug.
    fn wait_for_deletes(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while !self.pending_deletes.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.pending_deletes.clear();
                break;
            }
            self.reader.get_ref().set_read_timeout(Some(left))?;
            let got = self.read_message();
            self.reader
                .get_ref()
                .set_read_timeout(Some(Duration::from_secs(20)))?;
            if got.is_err() {
                self.pending_deletes.clear();
                break;
            }
        }
        Ok(())
    }

    /// Send a command and return its `return` or `error` message.
    pub fn execute(&mut self, cmd: &Value) -> Result<Value> {
        let name = cmd.get("execute").and_then(Value::as_str).unwrap_or("");
        if name == "device_add" {
            self.wait_for_deletes(Duration::from_secs(10))?;
        }
        let mut text = serde_json::to_string(cmd)?;
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .context("writing to QMP")?;
        let del_id = (name == "device_del")
            .then(|| cmd.pointer("/arguments/id").and_then(Value::as_str))
            .flatten();
        let mut deleted_already = false;
        loop {
            let msg = self.read_message()?;
            if msg.get("event").and_then(Value::as_str) == Some("DEVICE_DELETED")
                && msg.pointer("/data/device").and_then(Value::as_str) == del_id
            {
                deleted_already = true;
            }
            if msg.get("return").is_some() || msg.get("error").is_some() {
                if let (Some(id), Some(_), false) = (del_id, msg.get("return"), deleted_already) {
                    self.pending_deletes.push(id.to_string());
                }
                return Ok(msg);
            }
        }
    }

    /// Send a command given as JSON text (as a guest test printed it).
    pub fn execute_text(&mut self, json: &str) -> Result<Value> {
        let cmd: Value = serde_json::from_str(json).with_context(|| format!("not JSON: {json}"))?;
        self.execute(&cmd)
    }
}
