//! The paper's claims as tests, one module per claim (see each module's documentation).
