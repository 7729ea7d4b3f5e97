import ImageGrid
import KDCore

/// Every modality plugin is registered here, and only here.
enum Registration {
    static func registry() -> PluginRegistry {
        let registry = PluginRegistry()
        for plugin: ModalityPlugin in [ImageGridPlugin()] {
            // Names are distinct constants; a duplicate is a programming error.
            do { try registry.register(plugin) } catch { preconditionFailure("\(error)") }
        }
        return registry
    }
}
