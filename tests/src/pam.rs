//! Driving real libpam under pam_wrapper from tests.
