import Foundation
import KDCore

/// The plugins this kd-tool was built with, handed over once by `main` (``KDTool/main(plugins:arguments:)``)
/// before any command runs. Subcommands read them here and never name a plugin.
enum Registration {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var installed: [ModalityPlugin] = []

    static func install(_ plugins: [ModalityPlugin]) {
        lock.lock(); defer { lock.unlock() }
        installed = plugins
    }

    /// A registry of the installed plugins. Two plugins with one name is a programming error of the kd-tool
    /// that lists them, reported once at start-up (``KDTool/main(plugins:arguments:)``).
    static func registry() throws -> PluginRegistry {
        lock.lock(); let plugins = installed; lock.unlock()
        let registry = PluginRegistry()
        for plugin in plugins { try registry.register(plugin) }
        return registry
    }
}
