// Lists a bucket with the AWS SDK for JavaScript v3 the way an application does: the default
// credential chain and region (environment, AWS_CONFIG_FILE, AWS_PROFILE), or a profile named
// in code (`credentials: fromIni({ profile })`). Prints one JSON line:
// {"arn": caller identity, "keys": [...]} or {"error": name, "message": ...}; exits 1 on error.
//
// usage: node list-bucket.mjs BUCKET [PROFILE]
import { S3Client, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromIni } from "@aws-sdk/credential-provider-ini";

const [bucket, profile] = process.argv.slice(2);
if (!bucket) {
  console.error("usage: node list-bucket.mjs BUCKET [PROFILE]");
  process.exit(2);
}
const options = profile ? { credentials: fromIni({ profile }) } : {};
try {
  // The test points AWS_ENDPOINT_URL at moto on 127.0.0.1: path-style addressing.
  const s3 = new S3Client({ ...options, forcePathStyle: true });
  const sts = new STSClient(options);
  const identity = await sts.send(new GetCallerIdentityCommand({}));
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const keys = (listed.Contents ?? []).map((o) => o.Key).sort();
  console.log(JSON.stringify({ arn: identity.Arn, keys }));
} catch (error) {
  console.log(JSON.stringify({ error: error.name, message: String(error.message).slice(0, 200) }));
  process.exit(1);
}
