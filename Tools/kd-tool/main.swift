// kd-tool: the built-in plugins, handed to the dispatcher. This list is the only place that names them;
// adding a modality is one line here (or a kd-tool of your own: Docs/AddingAPlugin.md).
import ImageGrid
import PointCloud
import KDToolKit
import TokenEmbedding

KDTool.main(plugins: [ImageGridPlugin(), PointCloudPlugin(), TokenEmbeddingPlugin()])
