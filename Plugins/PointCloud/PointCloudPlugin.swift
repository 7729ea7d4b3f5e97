import Foundation
import KDCore
import KDDatasets

/// The point-cloud modality (the paper's Table 7): one unit per point, the object's points foreground
/// and points injected from other objects background (Docs/Method.md §1, §7; Docs/PointClouds.md).
///
/// Reads ModelNet40/ModelNet10 OFF zips, PointNet++'s `modelnet40_normal_resampled`, Sweet Home 3D
/// furniture catalogues (.sh3f) and the archives of `kd-tool dataset point-background`.
public final class PointCloudPlugin: ModalityPlugin {
    public init() {}
    public let name = "point-cloud"
    public let summary = "Point clouds: one unit per point, fg = the object, bg = points injected from other objects (ModelNet40/10 OFF zips, modelnet40_normal_resampled, Sweet Home 3D .sh3f, point-background archives); PointNet-like family."
    /// b = 0.5 for the PointNet-like family (its own override; 0.25 is the modality's value for other
    /// point-cloud networks, Method.md §3). α = 7, the authors' value for VGG/AlexNet-like nets: PointNet's
    /// head is three FC layers like theirs and no point-cloud α is published. τ = 0.01 relative to the
    /// input's standard deviation: coordinates are in unit-sphere units, not normalised per channel, so a
    /// fixed τ would mean a different perturbation per dataset. K = 16, T = 80: the quickstart's budget.
    public let defaults = PluginDefaults(threshold: 0.25, alpha: 7, family: "pointnet-s", tau: 0.01, tauRelative: true,
                                         noiseSamples: 16, steps: 80)
    public var families: [ModelFamily] { PointFamilies.all }
    public var options: [PluginOption] { PointOptions.pluginOptions + augmentationOptions }

    public var help: String {
        """
        \(summary)
        Formats: \(PointFormat.allCases.map(\.rawValue).joined(separator: "; ")). Meshes (OFF, PLY, STL, OBJ) are \
        sampled by triangle area (points=1024) and normalised to the unit sphere; background=500 points are \
        injected from background-clouds=5 objects of other classes. Family pointnet-s, taps \
        \(PointFamilies.pointNet.taps.joined(separator: ", ")), b = 0.5. Build a background set from the Sweet \
        Home 3D models with `kd-tool dataset point-background --output FILE`.
        """
    }

    public func recognise(_ path: String) -> String? { PointCollection.recognise(path)?.rawValue }

    public func open(_ path: String, options given: [String: String]) throws -> DatasetSource {
        let resolved = try resolveOptions(given)
        _ = try augmentation(resolved)   // checks the augmentation options
        return try PointDataset(path: path, options: try PointOptions(parsing: resolved))
    }
}
