//! Is a broker there, and is it ready? Two hand-written Kafka requests, so that this crate needs
//! no Kafka client.
//!
//! A Kafka node accepts connections a little before it serves clients, and a cluster serves
//! clients before all its nodes have joined; [`metadata`] asks what a client would ask first.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const CLIENT_ID: &[u8] = b"rebound-test-broker";
const CORRELATION_ID: i32 = 0x5245_4244; // "REBD"

/// What a Metadata request (v1, no topics) answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// The ids of the brokers the cluster lists as alive.
    pub brokers: Vec<i32>,
    /// The controller id the node answers: -1 when there is none (Tansu). Kafka in KRaft mode
    /// answers the id of some live broker, not the active controller (clients never talk to
    /// it); a non-negative value only says the node has joined a cluster.
    pub controller: i32,
}

/// Whether something accepts TCP connections on `addr`.
pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Whether `addr` answers a Kafka ApiVersions (v0) request: a Kafka-speaking process is there.
pub fn answers_api_versions(addr: SocketAddr) -> bool {
    request(addr, 18, 0, &[]).is_ok()
}

/// The cluster's brokers and controller, as the node at `addr` sees them; `None` if it does not
/// answer a Metadata request.
pub fn metadata(addr: SocketAddr) -> Option<ClusterView> {
    // Metadata v1 with an empty topic array: brokers and controller, no topics.
    let body = request(addr, 3, 1, &0i32.to_be_bytes()).ok()?;
    parse_metadata_v1(&body)
}

/// Sends one request and returns the response body after the correlation id.
fn request(addr: SocketAddr, api_key: i16, api_version: i16, body: &[u8]) -> io::Result<Vec<u8>> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&api_version.to_be_bytes());
    frame.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    frame.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    frame.extend_from_slice(CLIENT_ID);
    frame.extend_from_slice(body);
    let mut message = (frame.len() as i32).to_be_bytes().to_vec();
    message.extend_from_slice(&frame);

    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.set_write_timeout(Some(Duration::from_secs(3)))?;
    stream.write_all(&message)?;
    let mut length = [0u8; 4];
    stream.read_exact(&mut length)?;
    let length = i32::from_be_bytes(length);
    if !(4..=16 * 1024 * 1024).contains(&length) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad response length",
        ));
    }
    let mut response = vec![0u8; length as usize];
    stream.read_exact(&mut response)?;
    if response[..4] != CORRELATION_ID.to_be_bytes() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "wrong correlation id",
        ));
    }
    Ok(response.split_off(4))
}

/// Reads `[brokers: [node_id, host, port, rack]] controller_id` off a Metadata v1 response.
fn parse_metadata_v1(body: &[u8]) -> Option<ClusterView> {
    let mut cursor = Cursor(body);
    let count = cursor.i32()?;
    let mut brokers = Vec::with_capacity(count.clamp(0, 64) as usize);
    for _ in 0..count {
        brokers.push(cursor.i32()?);
        cursor.string()?; // host
        cursor.i32()?; // port
        cursor.string()?; // rack (nullable)
    }
    let controller = cursor.i32()?;
    Some(ClusterView {
        brokers,
        controller,
    })
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    /// A (nullable) int16-length string; its bytes are skipped.
    fn string(&mut self) -> Option<()> {
        let len = i16::from_be_bytes(self.take(2)?.try_into().ok()?);
        if len > 0 {
            self.take(len as usize)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_v1_lists_brokers_and_controller() {
        let mut body = Vec::new();
        body.extend_from_slice(&2i32.to_be_bytes());
        for (id, host, rack) in [(1i32, "127.0.0.1", None), (3, "127.0.0.1", Some("r1"))] {
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&(host.len() as i16).to_be_bytes());
            body.extend_from_slice(host.as_bytes());
            body.extend_from_slice(&9092i32.to_be_bytes());
            match rack {
                None => body.extend_from_slice(&(-1i16).to_be_bytes()),
                Some(r) => {
                    body.extend_from_slice(&(r.len() as i16).to_be_bytes());
                    body.extend_from_slice(r.as_bytes());
                }
            }
        }
        body.extend_from_slice(&3i32.to_be_bytes());
        body.extend_from_slice(&0i32.to_be_bytes()); // no topics
        assert_eq!(
            parse_metadata_v1(&body),
            Some(ClusterView {
                brokers: vec![1, 3],
                controller: 3
            })
        );
        assert_eq!(
            parse_metadata_v1(&body[..10]),
            None,
            "a cut response is no answer"
        );
    }
}
