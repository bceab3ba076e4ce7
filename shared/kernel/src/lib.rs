//! What crosses big-market services: validated identifiers, the clock and the random
//! source. Nothing here does I/O.

pub mod clock;
pub mod id;
pub mod random;

pub use clock::{Clock, MockClock, SystemClock};
pub use id::{BusinessNo, IdError, OrderId, StageCode, UserId, positive_id};
pub use random::{RandomSource, SeededRandom, ThreadRandom};
