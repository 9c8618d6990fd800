//! pam_sparekey: PAM entry points over sparekey-core.
