//! TCP endpoint states and the `conn_state` they add up to, following Zeek's TCP analyzer so
//! that a flow read from a capture gets the same state Zeek would log for it (S0, REJ, SF, ...).
//! Zeek's states depend on sequence numbers in a few corner cases (SYN/SYN-ACK reversal, FIN
//! recision); those are not tracked here.

use rampart_core::{ConnState, tcp_flags};

/// One side's state, as Zeek's `TCP_ENDPOINT_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub(crate) enum Endpoint {
    /// Nothing seen from this side.
    #[default]
    Inactive,
    /// Sent a SYN.
    SynSent,
    /// Sent a SYN-ACK without a SYN seen from the peer (as originator).
    SynAckSent,
    /// Seen midstream (no SYN).
    Partial,
    /// Handshake seen.
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

/// Both sides of one TCP connection plus the two facts `conn_state` needs beyond them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TcpTrack {
    pub(crate) orig: Endpoint,
    pub(crate) resp: Endpoint,
    /// Bits: see the `B_*` constants.
    bits: u8,
}

/// The originator carried payload.
const B_ORIG_DATA: u8 = 1;
/// The responder carried payload.
const B_RESP_DATA: u8 = 2;
/// The originator's first packet was a bare SYN and nothing but SYNs/RSTs followed from
/// either side (Zeek's history `^S[^HAFGIQ]*R`), which makes an originator reset RSTOS0.
const B_SYN_ONLY: u8 = 4;
/// Some packet from the originator has been seen.
const B_ORIG_SEEN: u8 = 8;
/// The responder's RST came after the responder had been CLOSED (FIN, then RST).
const B_RESP_FIN_RST: u8 = 16;
/// The originator's RST came after a FIN.
const B_ORIG_FIN_RST: u8 = 32;

impl TcpTrack {
    /// Feeds one segment. `from_orig` says which side sent it.
    pub(crate) fn update(&mut self, from_orig: bool, flags: u8, payload_len: usize) {
        let syn = flags & tcp_flags::SYN != 0;
        let ack = flags & tcp_flags::ACK != 0;
        let fin = flags & tcp_flags::FIN != 0;
        let rst = flags & tcp_flags::RST != 0;
        if from_orig {
            if self.bits & B_ORIG_SEEN == 0 {
                self.bits |= B_ORIG_SEEN;
                if syn && !ack && !fin && !rst {
                    self.bits |= B_SYN_ONLY;
                }
            } else if !rst && (ack || fin) {
                self.bits &= !B_SYN_ONLY;
            }
        } else if syn || ack || fin || payload_len > 0 {
            // A SYN-ACK, ACK, FIN or data from the responder breaks the "SYN then RST" shape.
            if !rst {
                self.bits &= !B_SYN_ONLY;
            }
        }
        if payload_len > 0 {
            self.bits |= if from_orig { B_ORIG_DATA } else { B_RESP_DATA };
        }

        let (me, peer) = if from_orig {
            (self.orig, self.resp)
        } else {
            (self.resp, self.orig)
        };
        let mut new_me = me;
        let mut new_peer = peer;
        match me {
            Endpoint::Inactive => {
                if syn {
                    if from_orig {
                        new_me = if ack {
                            Endpoint::SynAckSent
                        } else {
                            Endpoint::SynSent
                        };
                    } else {
                        if peer == Endpoint::SynSent {
                            new_peer = Endpoint::Established;
                        }
                        new_me = Endpoint::Established;
                    }
                }
                if fin {
                    new_me = Endpoint::Closed;
                }
                if rst {
                    new_me = Endpoint::Reset;
                }
                if new_me == Endpoint::Inactive {
                    if !from_orig && payload_len == 0 && self.orig == Endpoint::SynSent {
                        // An ACK of the SYN before the SYN-ACK: not midstream.
                    } else if ack && peer == Endpoint::Established {
                        new_me = Endpoint::Established;
                    } else {
                        new_me = Endpoint::Partial;
                    }
                }
            }
            Endpoint::SynSent | Endpoint::SynAckSent => {
                if fin {
                    new_me = Endpoint::Closed;
                }
                if rst {
                    new_me = Endpoint::Reset;
                }
            }
            Endpoint::Established | Endpoint::Partial => {
                if syn && !ack && me == Endpoint::Partial && peer == Endpoint::Inactive {
                    new_me = Endpoint::SynSent;
                }
                if fin && !rst {
                    new_me = Endpoint::Closed;
                    // A FIN answering a peer's FIN+RST: that RST ended a normal close.
                    let peer_fin_rst = if from_orig {
                        B_RESP_FIN_RST
                    } else {
                        B_ORIG_FIN_RST
                    };
                    if peer == Endpoint::Reset && self.bits & peer_fin_rst != 0 {
                        new_peer = Endpoint::Closed;
                    }
                }
                if rst {
                    new_me = Endpoint::Reset;
                }
            }
            Endpoint::Closed => {
                if rst && peer != Endpoint::Closed {
                    new_me = Endpoint::Reset;
                    self.bits |= if from_orig {
                        B_ORIG_FIN_RST
                    } else {
                        B_RESP_FIN_RST
                    };
                }
            }
            Endpoint::Reset => {}
        }
        if from_orig {
            self.orig = new_me;
            self.resp = new_peer;
        } else {
            self.resp = new_me;
            self.orig = new_peer;
        }
    }

    /// Both sides are done (FIN each, or a RST): the flow can be emitted after a short delay.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.orig, Endpoint::Reset)
            || matches!(self.resp, Endpoint::Reset)
            || (self.orig == Endpoint::Closed && self.resp == Endpoint::Closed)
    }

    /// A connection attempt nobody answered yet.
    pub(crate) fn is_attempt(&self) -> bool {
        matches!(self.orig, Endpoint::SynSent | Endpoint::SynAckSent)
            && self.resp == Endpoint::Inactive
    }

    /// Zeek's `conn_state` for a TCP connection.
    pub(crate) fn conn_state(&self) -> ConnState {
        use Endpoint::*;
        let (os, rs) = (self.orig, self.resp);
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        let no_data = self.bits & (B_ORIG_DATA | B_RESP_DATA) == 0;
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent) || (os == Reset && no_data) {
                ConnState::REJ
            } else if o_inactive {
                ConnState::RSTRH
            } else {
                ConnState::RSTR
            }
        } else if os == Reset {
            if r_inactive {
                if self.bits & B_SYN_ONLY != 0 {
                    ConnState::RSTOS0
                } else {
                    ConnState::OTH
                }
            } else {
                ConnState::RSTO
            }
        } else if rs == Closed && os == Closed {
            ConnState::SF
        } else if os == Closed {
            if r_inactive {
                ConnState::SH
            } else {
                ConnState::S2
            }
        } else if rs == Closed {
            if o_inactive {
                ConnState::SHR
            } else {
                ConnState::S3
            }
        } else if os == SynSent && rs == Inactive {
            ConnState::S0
        } else if os == Established && rs == Established {
            ConnState::S1
        } else {
            ConnState::OTH
        }
    }
}

/// Zeek's `conn_state` for UDP: who sent anything.
pub(crate) fn udp_state(orig_packets: u64, resp_packets: u64) -> ConnState {
    match (orig_packets > 0, resp_packets > 0) {
        (true, true) => ConnState::SF,
        (true, false) => ConnState::S0,
        (false, true) => ConnState::SHR,
        (false, false) => ConnState::OTH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::tcp_flags::{ACK, FIN, RST, SYN};

    fn run(segments: &[(bool, u8, usize)]) -> ConnState {
        let mut t = TcpTrack::default();
        for &(o, f, l) in segments {
            t.update(o, f, l);
        }
        t.conn_state()
    }

    #[test]
    fn states_like_zeek() {
        assert_eq!(run(&[(true, SYN, 0)]), ConnState::S0);
        assert_eq!(run(&[(true, SYN, 0), (true, SYN, 0)]), ConnState::S0);
        assert_eq!(
            run(&[(true, SYN, 0), (false, RST | ACK, 0)]),
            ConnState::REJ
        );
        assert_eq!(run(&[(true, SYN, 0), (true, RST, 0)]), ConnState::RSTOS0);
        assert_eq!(run(&[(true, SYN, 0), (true, FIN, 0)]), ConnState::SH);
        let hs = [(true, SYN, 0), (false, SYN | ACK, 0), (true, ACK, 0)];
        assert_eq!(run(&hs), ConnState::S1);
        let mut sf = hs.to_vec();
        sf.extend([
            (true, ACK, 10),
            (false, ACK, 100),
            (true, FIN | ACK, 0),
            (false, FIN | ACK, 0),
            (true, ACK, 0),
        ]);
        assert_eq!(run(&sf), ConnState::SF);
        let mut rsto = hs.to_vec();
        rsto.push((true, RST, 0));
        assert_eq!(run(&rsto), ConnState::RSTO);
        let mut rstr = hs.to_vec();
        rstr.push((false, RST, 0));
        assert_eq!(run(&rstr), ConnState::RSTR);
        let mut s2 = hs.to_vec();
        s2.push((true, FIN | ACK, 0));
        assert_eq!(run(&s2), ConnState::S2);
        let mut s3 = hs.to_vec();
        s3.push((false, FIN | ACK, 0));
        assert_eq!(run(&s3), ConnState::S3);
        // Midstream traffic only.
        assert_eq!(run(&[(true, ACK, 100), (false, ACK, 0)]), ConnState::OTH);
        // Responder SYN-ACK then RST, no SYN seen.
        assert_eq!(
            run(&[(false, SYN | ACK, 0), (false, RST, 0)]),
            ConnState::RSTRH
        );
        assert_eq!(run(&[(true, ACK, 5), (false, RST, 0)]), ConnState::RSTRH);
        assert_eq!(run(&[(false, ACK, 5), (false, FIN, 0)]), ConnState::SHR);
    }

    #[test]
    fn udp_states() {
        assert_eq!(udp_state(1, 1), ConnState::SF);
        assert_eq!(udp_state(3, 0), ConnState::S0);
        assert_eq!(udp_state(0, 2), ConnState::SHR);
    }
}
