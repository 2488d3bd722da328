//! Loading PKCS#11 modules, logging in to tokens, and pooling sessions.
//!
//! Three PKCS#11 rules shape this module:
//!
//! * `C_Initialize` may be called once per process per module, and `C_Finalize` ends the module
//!   for everyone in the process. Modules are therefore loaded and initialised once, kept in
//!   [`MODULES`] and never finalised.
//! * Login state belongs to the application and the token, not to a session: once one session
//!   has logged in, every session of the process on that token is logged in, a second
//!   `C_Login` fails with `CKR_USER_ALREADY_LOGGED_IN` without looking at the PIN, and closing
//!   the process's last session on the token logs it out. [`LOGINS`] therefore keeps one
//!   [`Token`] per (module, slot), shared by every provider using that token, holding one
//!   session that carries the login for as long as any provider needs it.
//! * A session may be used by one thread at a time (cryptoki's `Session` is `Send` but not
//!   `Sync`), so operations borrow a session from a small pool, opening another when all are in
//!   use.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use kenshin_crypto::{constant_time_eq, CryptoError};
use zeroize::Zeroizing;

use crate::{hsm, Pkcs11Config};

/// Idle sessions kept open per token; more are opened under load and closed afterwards.
const MAX_IDLE_SESSIONS: usize = 8;

/// Initialised modules, by canonical path. Never finalised (see the module documentation).
static MODULES: Mutex<BTreeMap<PathBuf, Pkcs11>> = Mutex::new(BTreeMap::new());

/// Held while listing slots and tokens. SoftHSM 2.6 (at least) updates its slot table inside
/// `C_GetSlotList` without a lock, so two threads listing slots at once can see tokens vanish
/// or slot ids turn invalid. Opening is rare; serialising it costs nothing.
static SLOT_LISTING: Mutex<()> = Mutex::new(());

/// A token in a module: (canonical module path, slot id).
type TokenKey = (PathBuf, u64);

/// Logged-in tokens, with the number of leases on each.
static LOGINS: Mutex<BTreeMap<TokenKey, (Arc<Token>, usize)>> = Mutex::new(BTreeMap::new());

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent
/// (a panic inside one at worst leaks a session).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Loads and initialises the PKCS#11 module at `path`, once per process.
fn load_module(path: &Path) -> Result<(PathBuf, Pkcs11), CryptoError> {
    let canonical = std::fs::canonicalize(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            hsm(format!(
                "PKCS#11 module {}: no such file; install the HSM's PKCS#11 library (for \
                 SoftHSM2: apt-get install softhsm2, which provides \
                 /usr/lib/softhsm/libsofthsm2.so) or correct the module path",
                path.display()
            ))
        } else {
            hsm(format!("PKCS#11 module {}: {err}", path.display()))
        }
    })?;
    if !canonical.is_file() {
        return Err(hsm(format!(
            "PKCS#11 module {}: not a regular file; the module path must name the HSM's \
             PKCS#11 shared library",
            path.display()
        )));
    }

    let mut modules = lock(&MODULES);
    if let Some(context) = modules.get(&canonical) {
        return Ok((canonical, context.clone()));
    }
    let context = Pkcs11::new(&canonical).map_err(|err| match err {
        CkError::MissingSymbol(symbol) => hsm(format!(
            "{} is not a PKCS#11 module: it does not export {symbol}",
            path.display()
        )),
        CkError::LibraryLoading(err) => hsm(format!(
            "{} could not be loaded as a PKCS#11 module (is it the HSM's PKCS#11 shared \
             library, built for this machine?): {err}",
            path.display()
        )),
        err => hsm(format!(
            "{} could not be loaded as a PKCS#11 module: {err}",
            path.display()
        )),
    })?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Already initialised by other code in this process: the module is shared, fine.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(err) => {
            return Err(hsm(format!(
                "PKCS#11 module {}: C_Initialize failed: {err}",
                path.display()
            )))
        }
    }
    modules.insert(canonical.clone(), context.clone());
    Ok((canonical, context))
}

/// Finds the one slot holding an initialised token labelled `label`.
fn find_token(context: &Pkcs11, config: &Pkcs11Config) -> Result<Slot, CryptoError> {
    let _listing = lock(&SLOT_LISTING);
    let slots = context.get_slots_with_token().map_err(|err| {
        hsm(format!(
            "PKCS#11 module {}: cannot list its slots: {err}",
            config.module.display()
        ))
    })?;
    let mut matching = Vec::new();
    let mut others = Vec::new();
    for slot in slots {
        let Ok(info) = context.get_token_info(slot) else {
            continue;
        };
        if !info.token_initialized() {
            continue;
        }
        if info.label() == config.token_label {
            matching.push((slot, info.serial_number().to_owned()));
        } else {
            others.push(format!("{:?}", info.label()));
        }
    }
    match matching.as_slice() {
        [(slot, _)] => Ok(*slot),
        [] => {
            let found = if others.is_empty() {
                "it has no initialised tokens".to_owned()
            } else {
                others.sort();
                format!("the tokens present are labelled {}", others.join(", "))
            };
            Err(hsm(format!(
                "no token labelled {:?} in PKCS#11 module {}: {found}",
                config.token_label,
                config.module.display()
            )))
        }
        several => {
            let serials: Vec<&str> = several.iter().map(|(_, serial)| serial.as_str()).collect();
            Err(hsm(format!(
                "{} tokens are labelled {:?} in PKCS#11 module {} (serial numbers {}); token \
                 labels must be unique",
                several.len(),
                config.token_label,
                config.module.display(),
                serials.join(", ")
            )))
        }
    }
}

/// What a failed `C_Login` means, for an operator. Never mentions the PIN's value.
pub(crate) fn login_error(rv: RvError, token_label: &str) -> String {
    match rv {
        RvError::PinIncorrect | RvError::PinLenRange => {
            format!("wrong PIN for token {token_label:?}")
        }
        RvError::PinLocked => format!(
            "the user PIN of token {token_label:?} is locked after too many wrong attempts; \
             the token's security officer must unlock it (set a new user PIN) before the key \
             can be used"
        ),
        RvError::PinExpired => format!(
            "the user PIN of token {token_label:?} has expired; set a new one with the HSM's \
             tools"
        ),
        RvError::UserPinNotInitialized => format!(
            "token {token_label:?} has no user PIN yet; the security officer must set one \
             (for SoftHSM2: softhsm2-util --init-token sets both)"
        ),
        RvError::UserAnotherAlreadyLoggedIn | RvError::UserTooManyTypes => format!(
            "cannot log in to token {token_label:?} as the user: this process is logged in to \
             it as the security officer"
        ),
        rv => format!("cannot log in to token {token_label:?}: {rv} ({rv:?})"),
    }
}

/// A token this process is logged in to, with a pool of its sessions.
pub(crate) struct Token {
    context: Pkcs11,
    slot: Slot,
    /// The token's label, for messages.
    pub(crate) label: String,
    /// The PIN that logged in, to refuse a later open with a different one (`C_Login` cannot
    /// check it any more: see the module documentation).
    pin: Zeroizing<String>,
    /// Keeps the login alive while idle sessions come and go. Never used for operations.
    _login: Mutex<Session>,
    idle: Mutex<Vec<Session>>,
}

impl Token {
    /// Opens a read-write session (key generation needs one; the others do not mind).
    fn open_session(&self) -> Result<Session, CryptoError> {
        open_session(&self.context, self.slot, &self.label)
    }

    /// Runs `operation` on a session of this token. The session returns to the pool if the
    /// operation succeeds and is closed if it fails, so a session left in an unknown state (an
    /// operation still active, a device that was reset) is never reused.
    pub(crate) fn with_session<T>(
        &self,
        operation: impl FnOnce(&Session) -> Result<T, CkError>,
    ) -> Result<Result<T, CkError>, CryptoError> {
        let pooled = lock(&self.idle).pop();
        let session = match pooled {
            Some(session) => session,
            None => self.open_session()?,
        };
        let result = operation(&session);
        if result.is_ok() {
            let mut idle = lock(&self.idle);
            if idle.len() < MAX_IDLE_SESSIONS {
                idle.push(session);
            }
        }
        Ok(result)
    }
}

fn open_session(context: &Pkcs11, slot: Slot, label: &str) -> Result<Session, CryptoError> {
    context
        .open_rw_session(slot)
        .map_err(|err| hsm(format!("cannot open a session on token {label:?}: {err}")))
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("label", &self.label)
            .field("slot", &self.slot.id())
            .finish_non_exhaustive()
    }
}

/// A share in a logged-in [`Token`]. The last lease to go closes the token's sessions, which
/// logs the process out.
pub(crate) struct Lease {
    token: Option<Arc<Token>>,
    key: TokenKey,
}

impl Lease {
    /// Loads the module, finds the token and logs in, or joins this process's existing login
    /// to the same token if the PIN matches the one that logged in.
    pub(crate) fn acquire(config: &Pkcs11Config) -> Result<Self, CryptoError> {
        if config.token_label.is_empty() || config.token_label.len() > 32 {
            return Err(hsm(format!(
                "token label {:?} is invalid: PKCS#11 token labels are 1 to 32 bytes long",
                config.token_label
            )));
        }
        if config.pin.is_empty() {
            return Err(hsm(format!(
                "no PIN given for token {:?}",
                config.token_label
            )));
        }
        let (canonical, context) = load_module(&config.module)?;
        let slot = find_token(&context, config)?;
        let key = (canonical, slot.id());

        // Held while logging in, so that no other thread can log in to or out of this token
        // meanwhile (a lease being dropped closes the sessions under this lock).
        let mut logins = lock(&LOGINS);
        if let Some((token, leases)) = logins.get_mut(&key) {
            if !constant_time_eq(token.pin.as_bytes(), config.pin.as_bytes()) {
                return Err(hsm(format!(
                    "wrong PIN for token {:?}: this process is already logged in to the token \
                     with a different PIN",
                    config.token_label
                )));
            }
            *leases += 1;
            return Ok(Self {
                token: Some(Arc::clone(token)),
                key,
            });
        }

        let info = context
            .get_token_info(slot)
            .map_err(|err| hsm(format!("token {:?}: {err}", config.token_label)))?;
        if info.user_pin_locked() {
            return Err(hsm(login_error(RvError::PinLocked, &config.token_label)));
        }
        if !info.user_pin_initialized() {
            return Err(hsm(login_error(
                RvError::UserPinNotInitialized,
                &config.token_label,
            )));
        }
        let session = open_session(&context, slot, &config.token_label)?;
        match session.login(UserType::User, Some(&AuthPin::from(config.pin.as_str()))) {
            Ok(()) => {}
            Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                // Logged in by code outside this crate: the PIN was not checked, and that
                // code may log out under us. Refuse rather than guess.
                return Err(hsm(format!(
                    "token {:?} is already logged in by other code in this process; the PIN \
                     cannot be checked",
                    config.token_label
                )));
            }
            Err(CkError::Pkcs11(rv, _)) => {
                return Err(hsm(login_error(rv, &config.token_label)));
            }
            Err(err) => {
                return Err(hsm(format!(
                    "cannot log in to token {:?}: {err}",
                    config.token_label
                )))
            }
        }
        let token = Arc::new(Token {
            context,
            slot,
            label: config.token_label.clone(),
            pin: config.pin.clone(),
            _login: Mutex::new(session),
            idle: Mutex::new(Vec::new()),
        });
        logins.insert(key.clone(), (Arc::clone(&token), 1));
        Ok(Self {
            token: Some(token),
            key,
        })
    }
}

impl std::ops::Deref for Lease {
    type Target = Token;

    fn deref(&self) -> &Token {
        self.token
            .as_deref()
            .expect("a lease holds its token until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut logins = lock(&LOGINS);
        let last = match logins.get_mut(&self.key) {
            Some((_, leases)) => {
                *leases -= 1;
                *leases == 0
            }
            None => false,
        };
        if last {
            logins.remove(&self.key);
        }
        // Dropped under the lock: if this was the last share, the sessions close (and the
        // process logs out of the token) before any other thread can log in again.
        drop(self.token.take());
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lease").field(&self.token).finish()
    }
}
