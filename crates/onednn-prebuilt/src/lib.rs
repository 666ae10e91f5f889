//! Nothing to call: the build script tells ct2rs where the prebuilt oneDNN is.
