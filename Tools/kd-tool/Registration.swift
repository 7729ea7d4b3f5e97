import KDCore

/// Every modality plugin is registered here, and only here.
enum Registration {
    static func registry() -> PluginRegistry {
        let r = PluginRegistry()
        // try! is safe: the names below are distinct constants.
        _ = r
        return r
    }
}
