// Spec vectors: LwM2M 1.0 TS §6.4.3.1–§6.4.3.3 (1.1 Core §7.4.3), byte for byte. The same
// bytes are in Eclipse Leshan's LwM2mNodeDecoderTest and TlvDecoderTest.
import { hex } from './_helpers.ts';

/** §6.4.3.1 Single Object Instance Request Example: GET /3/0, 121 bytes. */
export const DEVICE = hex(`
  C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65
  C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74
  C8 02 09 33 34 35 30 30 30 31 32 33
  C3 03 31 2E 30
  86 06 41 00 01 41 01 05
  88 07 08 42 00 0E D8 42 01 13 88
  87 08 41 00 7D 42 01 03 84
  C1 09 64
  C1 0A 0F
  83 0B 41 00 00
  C4 0D 51 82 42 8F
  C6 0E 2B 30 32 3A 30 30
  C1 10 55`);
/** §6.4.3.2 A) Request on Single-Instance Object (GET /3): the same, inside Object Instance 0. */
export const DEVICE_WRAPPED = Buffer.concat([hex('08 00 79'), DEVICE]);
/** §6.4.3.2 B) Request on Multiple-Instances Object (GET /2): Access Control instances 0 and 2. */
export const ACL = hex('08 00 0E C1 00 01 C1 01 00 83 02 41 7F 07 C1 03 7F 08 02 12 C1 00 03 C1 01 00 87 02 41 7F 07 61 01 36 01 C1 03 7F');
/** §6.4.3.2: Server Object (GET /1), instance 0. */
export const SERVER = hex('08 00 0F C1 00 01 C4 01 00 01 51 80 C1 06 01 C1 07 55');
/** §6.4.3.3 example 1: object 65 instance 0, a multiple Objlnk resource. */
export const OBJ65 = hex('88 00 0C 44 00 00 42 00 00 44 01 00 42 00 01 C8 01 0D 38 36 31 33 38 30 30 37 35 35 35 30 30 C4 02 12 34 56 78');
/** §6.4.3.3 example 2: object 66 instances 0 and 1, single Objlnk resources (the second the null link). */
export const OBJ66 = hex(`
  08 00 26 C8 00 0B 6D 79 53 65 72 76 69 63 65 20 31 C8 01 0F 49 6E 74 65 72 6E 65 74 2E 31 35 2E 32 33 34 C4 02 00 43 00 00
  08 01 26 C8 00 0B 6D 79 53 65 72 76 69 63 65 20 32 C8 01 0F 49 6E 74 65 72 6E 65 74 2E 31 35 2E 32 33 35 C4 02 FF FF FF FF`);
