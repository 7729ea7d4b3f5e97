import Foundation
import KDCore
import KDDatasets

/// The image modality: grid-cell units over object crops from CUB, VOC, ILSVRC-DET, Tiny-ImageNet,
/// Fashion-MNIST, Animal-MNIST and composite archives, and the CNN families of ``CNNFamilies``.
public final class ImageGridPlugin: ModalityPlugin {
    public init() {}
    public let name = "image-grid"
    public let summary = "Images: G×G grid cells over object crops (CUB-200-2011, Pascal VOC 2012, ILSVRC DET, Tiny-ImageNet, Fashion-MNIST, Animal-MNIST, composites); CNN families."
    /// b = 0.2 for images (Method.md §3); α = 7 for VGG/AlexNet-like nets (ResNet-like: 6, per family).
    public let defaults = PluginDefaults(threshold: 0.2, alpha: 7, family: "vgg11-s")
    public var families: [ModelFamily] { CNNFamilies.all }
    public var options: [PluginOption] { ImageOptions.pluginOptions }

    public func recognise(_ path: String) -> String? { recogniseImageCollection(path) }

    public func open(_ path: String, options given: [String: String]) throws -> DatasetSource {
        // resolveOptions rejects undeclared names and fills in the declared defaults, which parse as themselves.
        return try openImageCollection(path, options: try ImageOptions(parsing: try resolveOptions(given)))
    }
}
