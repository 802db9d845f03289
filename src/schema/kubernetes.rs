// Generated from k8s-openapi (Kubernetes v1.36) by src/schema/tests.rs: do not edit.
// `UPDATE_SCHEMA=1 cargo test --lib schema::tests::table_is_current` writes it again.

use super::{Struct, Ty};

pub const CONTAINER: Ty = Ty::Struct(13);
pub const VOLUME: Ty = Ty::Struct(73);
pub const LOCAL_OBJECT_REFERENCE: Ty = Ty::Struct(43);

pub static STRUCTS: [Struct; 85] = [
    // io.k8s.api.core.v1.AWSElasticBlockStoreVolumeSource
    Struct {
        name: "AWSElasticBlockStoreVolumeSource",
        fields: &[
            ("fsType", Ty::String),
            ("partition", Ty::Int32),
            ("readOnly", Ty::Bool),
            ("volumeID", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.AppArmorProfile
    Struct {
        name: "AppArmorProfile",
        fields: &[
            ("localhostProfile", Ty::String),
            ("type", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.AzureDiskVolumeSource
    Struct {
        name: "AzureDiskVolumeSource",
        fields: &[
            ("cachingMode", Ty::String),
            ("diskName", Ty::String),
            ("diskURI", Ty::String),
            ("fsType", Ty::String),
            ("kind", Ty::String),
            ("readOnly", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.AzureFileVolumeSource
    Struct {
        name: "AzureFileVolumeSource",
        fields: &[
            ("readOnly", Ty::Bool),
            ("secretName", Ty::String),
            ("shareName", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.CSIVolumeSource
    Struct {
        name: "CSIVolumeSource",
        fields: &[
            ("driver", Ty::String),
            ("fsType", Ty::String),
            ("nodePublishSecretRef", Ty::Struct(43)),
            ("readOnly", Ty::Bool),
            ("volumeAttributes", Ty::Map(&Ty::String)),
        ],
    },
    // io.k8s.api.core.v1.Capabilities
    Struct {
        name: "Capabilities",
        fields: &[
            ("add", Ty::List(&Ty::String)),
            ("drop", Ty::List(&Ty::String)),
        ],
    },
    // io.k8s.api.core.v1.CephFSVolumeSource
    Struct {
        name: "CephFSVolumeSource",
        fields: &[
            ("monitors", Ty::List(&Ty::String)),
            ("path", Ty::String),
            ("readOnly", Ty::Bool),
            ("secretFile", Ty::String),
            ("secretRef", Ty::Struct(43)),
            ("user", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.CinderVolumeSource
    Struct {
        name: "CinderVolumeSource",
        fields: &[
            ("fsType", Ty::String),
            ("readOnly", Ty::Bool),
            ("secretRef", Ty::Struct(43)),
            ("volumeID", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ClusterTrustBundleProjection
    Struct {
        name: "ClusterTrustBundleProjection",
        fields: &[
            ("labelSelector", Ty::Struct(80)),
            ("name", Ty::String),
            ("optional", Ty::Bool),
            ("path", Ty::String),
            ("signerName", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ConfigMapEnvSource
    Struct {
        name: "ConfigMapEnvSource",
        fields: &[
            ("name", Ty::String),
            ("optional", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.ConfigMapKeySelector
    Struct {
        name: "ConfigMapKeySelector",
        fields: &[
            ("key", Ty::String),
            ("name", Ty::String),
            ("optional", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.ConfigMapProjection
    Struct {
        name: "ConfigMapProjection",
        fields: &[
            ("items", Ty::List(&Ty::Struct(40))),
            ("name", Ty::String),
            ("optional", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.ConfigMapVolumeSource
    Struct {
        name: "ConfigMapVolumeSource",
        fields: &[
            ("defaultMode", Ty::Int32),
            ("items", Ty::List(&Ty::Struct(40))),
            ("name", Ty::String),
            ("optional", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.Container
    Struct {
        name: "Container",
        fields: &[
            ("args", Ty::List(&Ty::String)),
            ("command", Ty::List(&Ty::String)),
            ("env", Ty::List(&Ty::Struct(23))),
            ("envFrom", Ty::List(&Ty::Struct(22))),
            ("image", Ty::String),
            ("imagePullPolicy", Ty::String),
            ("lifecycle", Ty::Struct(41)),
            ("livenessProbe", Ty::Struct(52)),
            ("name", Ty::String),
            ("ports", Ty::List(&Ty::Struct(14))),
            ("readinessProbe", Ty::Struct(52)),
            ("resizePolicy", Ty::List(&Ty::Struct(15))),
            ("resources", Ty::Struct(58)),
            ("restartPolicy", Ty::String),
            ("restartPolicyRules", Ty::List(&Ty::Struct(16))),
            ("securityContext", Ty::Struct(66)),
            ("startupProbe", Ty::Struct(52)),
            ("stdin", Ty::Bool),
            ("stdinOnce", Ty::Bool),
            ("terminationMessagePath", Ty::String),
            ("terminationMessagePolicy", Ty::String),
            ("tty", Ty::Bool),
            ("volumeDevices", Ty::List(&Ty::Struct(74))),
            ("volumeMounts", Ty::List(&Ty::Struct(75))),
            ("workingDir", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ContainerPort
    Struct {
        name: "ContainerPort",
        fields: &[
            ("containerPort", Ty::Int32),
            ("hostIP", Ty::String),
            ("hostPort", Ty::Int32),
            ("name", Ty::String),
            ("protocol", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ContainerResizePolicy
    Struct {
        name: "ContainerResizePolicy",
        fields: &[
            ("resourceName", Ty::String),
            ("restartPolicy", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ContainerRestartRule
    Struct {
        name: "ContainerRestartRule",
        fields: &[
            ("action", Ty::String),
            ("exitCodes", Ty::Struct(17)),
        ],
    },
    // io.k8s.api.core.v1.ContainerRestartRuleOnExitCodes
    Struct {
        name: "ContainerRestartRuleOnExitCodes",
        fields: &[
            ("operator", Ty::String),
            ("values", Ty::List(&Ty::Int32)),
        ],
    },
    // io.k8s.api.core.v1.DownwardAPIProjection
    Struct {
        name: "DownwardAPIProjection",
        fields: &[
            ("items", Ty::List(&Ty::Struct(19))),
        ],
    },
    // io.k8s.api.core.v1.DownwardAPIVolumeFile
    Struct {
        name: "DownwardAPIVolumeFile",
        fields: &[
            ("fieldRef", Ty::Struct(45)),
            ("mode", Ty::Int32),
            ("path", Ty::String),
            ("resourceFieldRef", Ty::Struct(57)),
        ],
    },
    // io.k8s.api.core.v1.DownwardAPIVolumeSource
    Struct {
        name: "DownwardAPIVolumeSource",
        fields: &[
            ("defaultMode", Ty::Int32),
            ("items", Ty::List(&Ty::Struct(19))),
        ],
    },
    // io.k8s.api.core.v1.EmptyDirVolumeSource
    Struct {
        name: "EmptyDirVolumeSource",
        fields: &[
            ("medium", Ty::String),
            ("sizeLimit", Ty::Quantity),
        ],
    },
    // io.k8s.api.core.v1.EnvFromSource
    Struct {
        name: "EnvFromSource",
        fields: &[
            ("configMapRef", Ty::Struct(9)),
            ("prefix", Ty::String),
            ("secretRef", Ty::Struct(62)),
        ],
    },
    // io.k8s.api.core.v1.EnvVar
    Struct {
        name: "EnvVar",
        fields: &[
            ("name", Ty::String),
            ("value", Ty::String),
            ("valueFrom", Ty::Struct(24)),
        ],
    },
    // io.k8s.api.core.v1.EnvVarSource
    Struct {
        name: "EnvVarSource",
        fields: &[
            ("configMapKeyRef", Ty::Struct(10)),
            ("fieldRef", Ty::Struct(45)),
            ("fileKeyRef", Ty::Struct(28)),
            ("resourceFieldRef", Ty::Struct(57)),
            ("secretKeyRef", Ty::Struct(63)),
        ],
    },
    // io.k8s.api.core.v1.EphemeralVolumeSource
    Struct {
        name: "EphemeralVolumeSource",
        fields: &[
            ("volumeClaimTemplate", Ty::Struct(47)),
        ],
    },
    // io.k8s.api.core.v1.ExecAction
    Struct {
        name: "ExecAction",
        fields: &[
            ("command", Ty::List(&Ty::String)),
        ],
    },
    // io.k8s.api.core.v1.FCVolumeSource
    Struct {
        name: "FCVolumeSource",
        fields: &[
            ("fsType", Ty::String),
            ("lun", Ty::Int32),
            ("readOnly", Ty::Bool),
            ("targetWWNs", Ty::List(&Ty::String)),
            ("wwids", Ty::List(&Ty::String)),
        ],
    },
    // io.k8s.api.core.v1.FileKeySelector
    Struct {
        name: "FileKeySelector",
        fields: &[
            ("key", Ty::String),
            ("optional", Ty::Bool),
            ("path", Ty::String),
            ("volumeName", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.FlexVolumeSource
    Struct {
        name: "FlexVolumeSource",
        fields: &[
            ("driver", Ty::String),
            ("fsType", Ty::String),
            ("options", Ty::Map(&Ty::String)),
            ("readOnly", Ty::Bool),
            ("secretRef", Ty::Struct(43)),
        ],
    },
    // io.k8s.api.core.v1.FlockerVolumeSource
    Struct {
        name: "FlockerVolumeSource",
        fields: &[
            ("datasetName", Ty::String),
            ("datasetUUID", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.GCEPersistentDiskVolumeSource
    Struct {
        name: "GCEPersistentDiskVolumeSource",
        fields: &[
            ("fsType", Ty::String),
            ("partition", Ty::Int32),
            ("pdName", Ty::String),
            ("readOnly", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.GRPCAction
    Struct {
        name: "GRPCAction",
        fields: &[
            ("port", Ty::Int32),
            ("service", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.GitRepoVolumeSource
    Struct {
        name: "GitRepoVolumeSource",
        fields: &[
            ("directory", Ty::String),
            ("repository", Ty::String),
            ("revision", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.GlusterfsVolumeSource
    Struct {
        name: "GlusterfsVolumeSource",
        fields: &[
            ("endpoints", Ty::String),
            ("path", Ty::String),
            ("readOnly", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.HTTPGetAction
    Struct {
        name: "HTTPGetAction",
        fields: &[
            ("host", Ty::String),
            ("httpHeaders", Ty::List(&Ty::Struct(36))),
            ("path", Ty::String),
            ("port", Ty::IntOrString),
            ("scheme", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.HTTPHeader
    Struct {
        name: "HTTPHeader",
        fields: &[
            ("name", Ty::String),
            ("value", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.HostPathVolumeSource
    Struct {
        name: "HostPathVolumeSource",
        fields: &[
            ("path", Ty::String),
            ("type", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ISCSIVolumeSource
    Struct {
        name: "ISCSIVolumeSource",
        fields: &[
            ("chapAuthDiscovery", Ty::Bool),
            ("chapAuthSession", Ty::Bool),
            ("fsType", Ty::String),
            ("initiatorName", Ty::String),
            ("iqn", Ty::String),
            ("iscsiInterface", Ty::String),
            ("lun", Ty::Int32),
            ("portals", Ty::List(&Ty::String)),
            ("readOnly", Ty::Bool),
            ("secretRef", Ty::Struct(43)),
            ("targetPortal", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ImageVolumeSource
    Struct {
        name: "ImageVolumeSource",
        fields: &[
            ("pullPolicy", Ty::String),
            ("reference", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.KeyToPath
    Struct {
        name: "KeyToPath",
        fields: &[
            ("key", Ty::String),
            ("mode", Ty::Int32),
            ("path", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.Lifecycle
    Struct {
        name: "Lifecycle",
        fields: &[
            ("postStart", Ty::Struct(42)),
            ("preStop", Ty::Struct(42)),
            ("stopSignal", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.LifecycleHandler
    Struct {
        name: "LifecycleHandler",
        fields: &[
            ("exec", Ty::Struct(26)),
            ("httpGet", Ty::Struct(35)),
            ("sleep", Ty::Struct(68)),
            ("tcpSocket", Ty::Struct(70)),
        ],
    },
    // io.k8s.api.core.v1.LocalObjectReference
    Struct {
        name: "LocalObjectReference",
        fields: &[
            ("name", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.NFSVolumeSource
    Struct {
        name: "NFSVolumeSource",
        fields: &[
            ("path", Ty::String),
            ("readOnly", Ty::Bool),
            ("server", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ObjectFieldSelector
    Struct {
        name: "ObjectFieldSelector",
        fields: &[
            ("apiVersion", Ty::String),
            ("fieldPath", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.PersistentVolumeClaimSpec
    Struct {
        name: "PersistentVolumeClaimSpec",
        fields: &[
            ("accessModes", Ty::List(&Ty::String)),
            ("dataSource", Ty::Struct(71)),
            ("dataSourceRef", Ty::Struct(72)),
            ("resources", Ty::Struct(77)),
            ("selector", Ty::Struct(80)),
            ("storageClassName", Ty::String),
            ("volumeAttributesClassName", Ty::String),
            ("volumeMode", Ty::String),
            ("volumeName", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.PersistentVolumeClaimTemplate
    Struct {
        name: "PersistentVolumeClaimTemplate",
        fields: &[
            ("metadata", Ty::Struct(83)),
            ("spec", Ty::Struct(46)),
        ],
    },
    // io.k8s.api.core.v1.PersistentVolumeClaimVolumeSource
    Struct {
        name: "PersistentVolumeClaimVolumeSource",
        fields: &[
            ("claimName", Ty::String),
            ("readOnly", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.PhotonPersistentDiskVolumeSource
    Struct {
        name: "PhotonPersistentDiskVolumeSource",
        fields: &[
            ("fsType", Ty::String),
            ("pdID", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.PodCertificateProjection
    Struct {
        name: "PodCertificateProjection",
        fields: &[
            ("certificateChainPath", Ty::String),
            ("credentialBundlePath", Ty::String),
            ("keyPath", Ty::String),
            ("keyType", Ty::String),
            ("maxExpirationSeconds", Ty::Int32),
            ("signerName", Ty::String),
            ("userAnnotations", Ty::Map(&Ty::String)),
        ],
    },
    // io.k8s.api.core.v1.PortworxVolumeSource
    Struct {
        name: "PortworxVolumeSource",
        fields: &[
            ("fsType", Ty::String),
            ("readOnly", Ty::Bool),
            ("volumeID", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.Probe
    Struct {
        name: "Probe",
        fields: &[
            ("exec", Ty::Struct(26)),
            ("failureThreshold", Ty::Int32),
            ("grpc", Ty::Struct(32)),
            ("httpGet", Ty::Struct(35)),
            ("initialDelaySeconds", Ty::Int32),
            ("periodSeconds", Ty::Int32),
            ("successThreshold", Ty::Int32),
            ("tcpSocket", Ty::Struct(70)),
            ("terminationGracePeriodSeconds", Ty::Int64),
            ("timeoutSeconds", Ty::Int32),
        ],
    },
    // io.k8s.api.core.v1.ProjectedVolumeSource
    Struct {
        name: "ProjectedVolumeSource",
        fields: &[
            ("defaultMode", Ty::Int32),
            ("sources", Ty::List(&Ty::Struct(76))),
        ],
    },
    // io.k8s.api.core.v1.QuobyteVolumeSource
    Struct {
        name: "QuobyteVolumeSource",
        fields: &[
            ("group", Ty::String),
            ("readOnly", Ty::Bool),
            ("registry", Ty::String),
            ("tenant", Ty::String),
            ("user", Ty::String),
            ("volume", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.RBDVolumeSource
    Struct {
        name: "RBDVolumeSource",
        fields: &[
            ("fsType", Ty::String),
            ("image", Ty::String),
            ("keyring", Ty::String),
            ("monitors", Ty::List(&Ty::String)),
            ("pool", Ty::String),
            ("readOnly", Ty::Bool),
            ("secretRef", Ty::Struct(43)),
            ("user", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ResourceClaim
    Struct {
        name: "ResourceClaim",
        fields: &[
            ("name", Ty::String),
            ("request", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ResourceFieldSelector
    Struct {
        name: "ResourceFieldSelector",
        fields: &[
            ("containerName", Ty::String),
            ("divisor", Ty::Quantity),
            ("resource", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ResourceRequirements
    Struct {
        name: "ResourceRequirements",
        fields: &[
            ("claims", Ty::List(&Ty::Struct(56))),
            ("limits", Ty::Map(&Ty::Quantity)),
            ("requests", Ty::Map(&Ty::Quantity)),
        ],
    },
    // io.k8s.api.core.v1.SELinuxOptions
    Struct {
        name: "SELinuxOptions",
        fields: &[
            ("level", Ty::String),
            ("role", Ty::String),
            ("type", Ty::String),
            ("user", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.ScaleIOVolumeSource
    Struct {
        name: "ScaleIOVolumeSource",
        fields: &[
            ("fsType", Ty::String),
            ("gateway", Ty::String),
            ("protectionDomain", Ty::String),
            ("readOnly", Ty::Bool),
            ("secretRef", Ty::Struct(43)),
            ("sslEnabled", Ty::Bool),
            ("storageMode", Ty::String),
            ("storagePool", Ty::String),
            ("system", Ty::String),
            ("volumeName", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.SeccompProfile
    Struct {
        name: "SeccompProfile",
        fields: &[
            ("localhostProfile", Ty::String),
            ("type", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.SecretEnvSource
    Struct {
        name: "SecretEnvSource",
        fields: &[
            ("name", Ty::String),
            ("optional", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.SecretKeySelector
    Struct {
        name: "SecretKeySelector",
        fields: &[
            ("key", Ty::String),
            ("name", Ty::String),
            ("optional", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.SecretProjection
    Struct {
        name: "SecretProjection",
        fields: &[
            ("items", Ty::List(&Ty::Struct(40))),
            ("name", Ty::String),
            ("optional", Ty::Bool),
        ],
    },
    // io.k8s.api.core.v1.SecretVolumeSource
    Struct {
        name: "SecretVolumeSource",
        fields: &[
            ("defaultMode", Ty::Int32),
            ("items", Ty::List(&Ty::Struct(40))),
            ("optional", Ty::Bool),
            ("secretName", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.SecurityContext
    Struct {
        name: "SecurityContext",
        fields: &[
            ("allowPrivilegeEscalation", Ty::Bool),
            ("appArmorProfile", Ty::Struct(1)),
            ("capabilities", Ty::Struct(5)),
            ("privileged", Ty::Bool),
            ("procMount", Ty::String),
            ("readOnlyRootFilesystem", Ty::Bool),
            ("runAsGroup", Ty::Int64),
            ("runAsNonRoot", Ty::Bool),
            ("runAsUser", Ty::Int64),
            ("seLinuxOptions", Ty::Struct(59)),
            ("seccompProfile", Ty::Struct(61)),
            ("windowsOptions", Ty::Struct(79)),
        ],
    },
    // io.k8s.api.core.v1.ServiceAccountTokenProjection
    Struct {
        name: "ServiceAccountTokenProjection",
        fields: &[
            ("audience", Ty::String),
            ("expirationSeconds", Ty::Int64),
            ("path", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.SleepAction
    Struct {
        name: "SleepAction",
        fields: &[
            ("seconds", Ty::Int64),
        ],
    },
    // io.k8s.api.core.v1.StorageOSVolumeSource
    Struct {
        name: "StorageOSVolumeSource",
        fields: &[
            ("fsType", Ty::String),
            ("readOnly", Ty::Bool),
            ("secretRef", Ty::Struct(43)),
            ("volumeName", Ty::String),
            ("volumeNamespace", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.TCPSocketAction
    Struct {
        name: "TCPSocketAction",
        fields: &[
            ("host", Ty::String),
            ("port", Ty::IntOrString),
        ],
    },
    // io.k8s.api.core.v1.TypedLocalObjectReference
    Struct {
        name: "TypedLocalObjectReference",
        fields: &[
            ("apiGroup", Ty::String),
            ("kind", Ty::String),
            ("name", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.TypedObjectReference
    Struct {
        name: "TypedObjectReference",
        fields: &[
            ("apiGroup", Ty::String),
            ("kind", Ty::String),
            ("name", Ty::String),
            ("namespace", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.Volume
    Struct {
        name: "Volume",
        fields: &[
            ("awsElasticBlockStore", Ty::Struct(0)),
            ("azureDisk", Ty::Struct(2)),
            ("azureFile", Ty::Struct(3)),
            ("cephfs", Ty::Struct(6)),
            ("cinder", Ty::Struct(7)),
            ("configMap", Ty::Struct(12)),
            ("csi", Ty::Struct(4)),
            ("downwardAPI", Ty::Struct(20)),
            ("emptyDir", Ty::Struct(21)),
            ("ephemeral", Ty::Struct(25)),
            ("fc", Ty::Struct(27)),
            ("flexVolume", Ty::Struct(29)),
            ("flocker", Ty::Struct(30)),
            ("gcePersistentDisk", Ty::Struct(31)),
            ("gitRepo", Ty::Struct(33)),
            ("glusterfs", Ty::Struct(34)),
            ("hostPath", Ty::Struct(37)),
            ("image", Ty::Struct(39)),
            ("iscsi", Ty::Struct(38)),
            ("name", Ty::String),
            ("nfs", Ty::Struct(44)),
            ("persistentVolumeClaim", Ty::Struct(48)),
            ("photonPersistentDisk", Ty::Struct(49)),
            ("portworxVolume", Ty::Struct(51)),
            ("projected", Ty::Struct(53)),
            ("quobyte", Ty::Struct(54)),
            ("rbd", Ty::Struct(55)),
            ("scaleIO", Ty::Struct(60)),
            ("secret", Ty::Struct(65)),
            ("storageos", Ty::Struct(69)),
            ("vsphereVolume", Ty::Struct(78)),
        ],
    },
    // io.k8s.api.core.v1.VolumeDevice
    Struct {
        name: "VolumeDevice",
        fields: &[
            ("devicePath", Ty::String),
            ("name", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.VolumeMount
    Struct {
        name: "VolumeMount",
        fields: &[
            ("mountPath", Ty::String),
            ("mountPropagation", Ty::String),
            ("name", Ty::String),
            ("readOnly", Ty::Bool),
            ("recursiveReadOnly", Ty::String),
            ("subPath", Ty::String),
            ("subPathExpr", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.VolumeProjection
    Struct {
        name: "VolumeProjection",
        fields: &[
            ("clusterTrustBundle", Ty::Struct(8)),
            ("configMap", Ty::Struct(11)),
            ("downwardAPI", Ty::Struct(18)),
            ("podCertificate", Ty::Struct(50)),
            ("secret", Ty::Struct(64)),
            ("serviceAccountToken", Ty::Struct(67)),
        ],
    },
    // io.k8s.api.core.v1.VolumeResourceRequirements
    Struct {
        name: "VolumeResourceRequirements",
        fields: &[
            ("limits", Ty::Map(&Ty::Quantity)),
            ("requests", Ty::Map(&Ty::Quantity)),
        ],
    },
    // io.k8s.api.core.v1.VsphereVirtualDiskVolumeSource
    Struct {
        name: "VsphereVirtualDiskVolumeSource",
        fields: &[
            ("fsType", Ty::String),
            ("storagePolicyID", Ty::String),
            ("storagePolicyName", Ty::String),
            ("volumePath", Ty::String),
        ],
    },
    // io.k8s.api.core.v1.WindowsSecurityContextOptions
    Struct {
        name: "WindowsSecurityContextOptions",
        fields: &[
            ("gmsaCredentialSpec", Ty::String),
            ("gmsaCredentialSpecName", Ty::String),
            ("hostProcess", Ty::Bool),
            ("runAsUserName", Ty::String),
        ],
    },
    // io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector
    Struct {
        name: "LabelSelector",
        fields: &[
            ("matchExpressions", Ty::List(&Ty::Struct(81))),
            ("matchLabels", Ty::Map(&Ty::String)),
        ],
    },
    // io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement
    Struct {
        name: "LabelSelectorRequirement",
        fields: &[
            ("key", Ty::String),
            ("operator", Ty::String),
            ("values", Ty::List(&Ty::String)),
        ],
    },
    // io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry
    Struct {
        name: "ManagedFieldsEntry",
        fields: &[
            ("apiVersion", Ty::String),
            ("fieldsType", Ty::String),
            ("fieldsV1", Ty::Any),
            ("manager", Ty::String),
            ("operation", Ty::String),
            ("subresource", Ty::String),
            ("time", Ty::Time),
        ],
    },
    // io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta
    Struct {
        name: "ObjectMeta",
        fields: &[
            ("annotations", Ty::Map(&Ty::String)),
            ("creationTimestamp", Ty::Time),
            ("deletionGracePeriodSeconds", Ty::Int64),
            ("deletionTimestamp", Ty::Time),
            ("finalizers", Ty::List(&Ty::String)),
            ("generateName", Ty::String),
            ("generation", Ty::Int64),
            ("labels", Ty::Map(&Ty::String)),
            ("managedFields", Ty::List(&Ty::Struct(82))),
            ("name", Ty::String),
            ("namespace", Ty::String),
            ("ownerReferences", Ty::List(&Ty::Struct(84))),
            ("resourceVersion", Ty::String),
            ("selfLink", Ty::String),
            ("uid", Ty::String),
        ],
    },
    // io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference
    Struct {
        name: "OwnerReference",
        fields: &[
            ("apiVersion", Ty::String),
            ("blockOwnerDeletion", Ty::Bool),
            ("controller", Ty::Bool),
            ("kind", Ty::String),
            ("name", Ty::String),
            ("uid", Ty::String),
        ],
    },
];
